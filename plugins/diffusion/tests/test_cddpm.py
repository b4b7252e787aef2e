"""Units of ``cddpm``: network size, SparK-style masking, conditioning, test-time mean, pretraining, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from wsad_diffusion.cddpm import CDDPMNetwork, CDDPMSegmenter, ConditionedUNet
from wsad_diffusion.conditioning import ConditioningEncoder, MaskedImageModel, masked_mse, patch_mask
from wsad_diffusion.config_cddpm import CDDPMOptions
from wsad_diffusion.networks import build_unet

from wsad_core import Label, SliceSet
from wsad_core.bench.presets import _CPU_OPTIONS
from wsad_core.reconstruction import HealthySlices
from wsad_core.testing import InterruptAt, toy_volumes

TINY = {
    "image_size": 32,
    "channels": (16, 32),
    "num_res_blocks": 1,
    "num_head_channels": 16,
    "norm_groups": 8,
    "timesteps": 100,
    "test_timesteps": (25, 50, 75),
    "noise": "gaussian",
    "epochs": 2,
    "epoch_sampling": "all-slices",
    "batch_size": 16,
    "median_size": 3,
    "erosion_iterations": 1,
    "learning_rate": 1e-3,
    "encoder": "resnet18",
    "condition_dim": 32,
    "decoder_width": 16,
    "mask_patch": 8,
    "pretrain_epochs": 2,
    "pretrain_batch_size": 16,
}  # fmt: skip  (16 training slices: one step per epoch)


def _slices(n: int = 16, size: int = 32, seed: int = 0, labels: int = Label.HEALTHY) -> SliceSet:
    return toy_volumes(n, size=size, seed=seed, labels=labels, texture=0.1)


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """MONAI zero-initialises each block's last convolution and the output: give every weight a value."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)


# --- sizes and options --------------------------------------------------------------------------


def test_the_published_network_is_constructed_at_its_size() -> None:
    """ResNet-50 encoder (1-channel stem, 512-d embedding) + the conditioned 128/256/256 UNet (not trained)."""
    network = CDDPMNetwork(CDDPMOptions(), in_channels=1)
    count = sum(p.numel() for p in network.parameters())
    # No paper states a count: MONAI UNet 34,493,313 + conditioning MLP 525,312 + the blocks' projections
    # widened to the 1024-d [time, condition] embedding 3,014,656; torchvision ResNet-50 trunk 23,501,760
    # (1-channel stem) + projection 2048 -> 512 (1,049,088).
    assert count == 62_584_129
    assert sum(p.numel() for p in network.encoder.parameters()) == 24_550_848
    assert sum(p.numel() for p in network.unet.parameters()) == 38_033_281
    with torch.no_grad():
        image = torch.zeros(2, 1, 96, 96)
        assert network(image, torch.tensor([499, 10]), image).shape == (2, 1, 96, 96)
        assert network.encoder(image).shape == (2, 512)


def test_options_follow_the_spec_and_reject_what_cddpm_does_not_use() -> None:
    options = CDDPMOptions()
    assert (options.test_timesteps, options.condition_dim, options.encoder, options.mask_ratio, options.patch) == (
        (250, 500, 750), 512, "resnet50", 0.65, 32,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="test_timesteps"):
        CDDPMOptions(test_timestep=400)  # ddpm's single level is not cddpm's option
    assert CDDPMOptions.model_validate(options.model_dump(mode="json")) == options  # saved files reload
    with pytest.raises(ValidationError, match=r"1\.\.timesteps"):
        CDDPMOptions(timesteps=100, test_timesteps=(50, 150), image_size=32)
    with pytest.raises(ValidationError, match="keeps"):
        CDDPMOptions(image_size=32)  # one 32-px patch: nothing can be both kept and masked
    cpu = CDDPMOptions(**_CPU_OPTIONS["cddpm"])
    assert (cpu.encoder, cpu.image_size, cpu.patch) == ("resnet18", 64, 32)


# --- SparK-style masking ------------------------------------------------------------------------


def test_the_patch_mask_keeps_round_cells_times_one_minus_ratio_patches() -> None:
    generator = torch.Generator().manual_seed(0)
    masked = patch_mask(5, 96, 32, 0.65, generator)
    assert masked.shape == (5, 1, 96, 96)
    assert masked.dtype == torch.bool
    cells = masked[:, 0, ::32, ::32]  # one value per patch of the 3 x 3 grid
    # Constant within each 32 x 32 patch.
    assert torch.equal(masked, cells[:, None].repeat_interleave(32, 2).repeat_interleave(32, 3))
    # 9 cells, round(9 x 0.35) = round(3.15) = 3 kept, so 6 masked in every image.
    assert cells.flatten(1).sum(1).tolist() == [6] * 5
    assert len({tuple(c.flatten().tolist()) for c in cells}) > 1, "each image its own draw"
    again = patch_mask(5, 96, 32, 0.65, torch.Generator().manual_seed(0))
    assert torch.equal(masked, again)
    # 4 x 4 grid of 8-px patches at 32²: round(16 x 0.35) = round(5.6) = 6 kept, 10 masked.
    small = patch_mask(3, 32, 8, 0.65, generator)
    assert small[:, 0, ::8, ::8].flatten(1).sum(1).tolist() == [10] * 3


def test_the_loss_counts_only_the_masked_patches() -> None:
    masked = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    masked[0, :, :2, :2] = True  # 4 masked pixels in image 0
    masked[1, :, 2:, :] = True  # 8 masked pixels in image 1
    target = torch.full((2, 2, 4, 4), 100.0)  # 2 channels; visible pixels have a huge error
    target[masked.expand_as(target)] = 3.0
    reconstruction = torch.ones(2, 2, 4, 4)
    # Every masked pixel (and channel) is off by 2: the mean of 4 over (4 + 8) x 2 values.
    assert float(masked_mse(reconstruction, target, masked)) == pytest.approx(4.0)
    target[0, 0, 0, 0] = 5.0  # one masked value off by 4: (23 x 4 + 16) / 24
    assert float(masked_mse(reconstruction, target, masked)) == pytest.approx((23 * 4 + 16) / 24)


def test_the_masked_model_hides_the_masked_patches_from_the_encoder() -> None:
    torch.manual_seed(0)
    model = MaskedImageModel(ConditioningEncoder(1, "resnet18", 8), out_channels=1, decoder_width=16).eval()
    masked = patch_mask(2, 64, 32, 0.65, torch.Generator().manual_seed(1))
    images = torch.rand(2, 1, 64, 64)
    changed = torch.where(masked, torch.rand(2, 1, 64, 64), images)
    with torch.no_grad():
        first, second = model(images, masked), model(changed, masked)
    assert first.shape == images.shape
    # What is under the mask cannot reach the reconstruction (only the loss sees it).
    assert torch.equal(first, second)


def test_pretraining_lowers_the_masked_reconstruction_loss(wsad_context_factory) -> None:
    options = CDDPMOptions(**(TINY | {"pretrain_epochs": 12, "pretrain_learning_rate": 1e-2, "decoder_width": 64}))
    segmenter = CDDPMSegmenter(options, wsad_context_factory())
    data = HealthySlices.select(_slices(16), 32, torch.device("cpu"), method="cddpm", what="training")
    encoder, history = segmenter.pretrain_encoder(data)
    assert isinstance(encoder, ConditioningEncoder)
    assert history.completed == 12
    # One step per epoch; the untrained decoder outputs ~0 (SparK's initialisation), a loss of ~0.1.
    assert np.mean(history.train_loss[-3:]) < 0.5 * history.train_loss[0]
    # Reused, not redone, by a second call on the same data and options.
    again, cached = segmenter.pretrain_encoder(data)
    assert cached.train_loss == history.train_loss
    for a, b in zip(encoder.trunk.state_dict().values(), again.trunk.state_dict().values(), strict=True):
        assert torch.equal(a, b)


# --- conditioning and the test-time mean -------------------------------------------------------


def test_the_condition_changes_the_unet_output() -> None:
    options = CDDPMOptions(**TINY)
    unet = ConditionedUNet(options, in_channels=1, condition_dim=32)
    _randomise(unet)
    x, steps = torch.rand(2, 1, 32, 32), torch.tensor([30, 30])
    a, b = torch.randn(1, 32).repeat(2, 1), torch.randn(1, 32).repeat(2, 1)
    with torch.no_grad():
        out_a, out_b, again = unet(x, steps, a), unet(x, steps, b), unet(x, steps, a)
    assert torch.equal(out_a, again)
    assert float((out_a - out_b).abs().max()) > 1e-3


def test_without_the_condition_the_unet_is_monais() -> None:
    """Zeroing the condition's half of every block projection gives MONAI's own forward with the same weights."""
    options = CDDPMOptions(**TINY)
    conditioned = ConditionedUNet(options, in_channels=1, condition_dim=32)
    _randomise(conditioned)
    plain = build_unet(options, 1)
    state = {}
    for name, value in conditioned.unet.state_dict().items():
        if name.endswith("time_emb_proj.weight"):
            width = value.shape[1] // 2
            state[name] = value[:, :width]
            with torch.no_grad():
                dict(conditioned.unet.named_parameters())[name][:, width:] = 0.0
        else:
            state[name] = value
    plain.load_state_dict(state)
    x, steps = torch.rand(2, 1, 32, 32), torch.tensor([5, 80])
    with torch.no_grad():
        expected = plain(x, steps)
        assert torch.allclose(conditioned(x, steps, torch.randn(2, 32)), expected, atol=1e-6)
        assert float(expected.abs().max()) > 1e-3


class _Stub(torch.nn.Module):
    """Encoder and UNet stand-ins: the 'reconstruction' is the noise index t - 1, scaled."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.encoder = torch.nn.Flatten()  # any embedding: the stub ignores it

    def unet(self, noisy: torch.Tensor, steps: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        assert embedding.shape[0] == noisy.shape[0]
        self.calls.append(int(steps[0]))
        return torch.full_like(noisy, float(steps[0]) / 1000)


def test_the_test_reconstruction_is_the_mean_over_the_test_timesteps(wsad_context_factory) -> None:
    segmenter = CDDPMSegmenter(CDDPMOptions(**(TINY | {"timesteps": 1000, "test_timesteps": (250, 500, 750)})),
                               wsad_context_factory())  # fmt: skip
    test = _slices(4, labels=Label.UNKNOWN)
    segmenter.prepare(test)
    stub = _Stub()
    images = torch.from_numpy(test.images)
    reconstruction = segmenter.reconstruct(stub, images, slice(0, 4))
    assert stub.calls == [249, 499, 749]  # the official code noises to index t - 1
    assert torch.allclose(reconstruction, torch.full_like(images, (249 + 499 + 749) / 3000))
    # Three independent noises per slice, the same whichever batch the slice is in.
    noises = segmenter._test_noises(images, slice(0, 4))
    assert len(noises) == 3
    assert not torch.equal(noises[0], noises[1])
    assert torch.equal(segmenter._test_noises(images[2:3], slice(2, 3))[1], noises[1][2:3])


# --- the whole method ---------------------------------------------------------------------------


def test_fit_records_the_pretraining_and_every_deviation(wsad_context_factory) -> None:
    segmenter = CDDPMSegmenter(CDDPMOptions(**(TINY | {"epochs": 1, "pretrain_epochs": 1})), wsad_context_factory())
    segmenter.fit(_slices(16))
    facts = segmenter.provenance
    assert facts["encoder_pretraining"]["epochs"] == 1
    assert len(facts["encoder_pretraining"]["train_loss"]) == 1
    assert facts["encoder_pretraining_epochs"] == 1
    assert "cddpm-encoder-" in facts["encoder_checkpoint_dir"]
    found = {(d.kind, d.what) for d in segmenter.deviations}
    assert {
        ("weights", "conditioning encoder"), ("setting", "encoder"), ("setting", "pretrain_epochs"),
        ("default", "UNet time embedding"), ("default", "training augmentation"),
        ("data", "healthy training data"),
    } <= found  # fmt: skip
    assert ("setting", "test_timestep") not in found


def test_an_interrupted_training_resumes_to_the_same_maps(wsad_context_factory) -> None:
    options = CDDPMOptions(**TINY)  # 2 + 2 epochs
    train, test = _slices(16), _slices(8, seed=1, labels=Label.UNKNOWN)
    straight = CDDPMSegmenter(options, wsad_context_factory(name="straight"))
    straight.fit(train)
    with pytest.raises(KeyboardInterrupt):  # killed during the encoder pretraining
        CDDPMSegmenter(options, wsad_context_factory(name="resumed", progress=InterruptAt("cddpm encoder 2/2"))).fit(
            train
        )
    with pytest.raises(KeyboardInterrupt):  # and again during the DDPM stage
        CDDPMSegmenter(options, wsad_context_factory(name="resumed", progress=InterruptAt("cddpm 2/2"))).fit(train)
    resumed = CDDPMSegmenter(options, wsad_context_factory(name="resumed"))
    resumed.fit(train)
    assert resumed.history is not None
    assert resumed.history.resumed_at == [1]
    assert resumed.pretraining is not None
    assert resumed.pretraining.resumed_at == [1]
    np.testing.assert_array_equal(resumed.predict(test).scores, straight.predict(test).scores)


def test_a_slices_map_does_not_depend_on_its_batch(wsad_context_factory) -> None:
    segmenter = CDDPMSegmenter(CDDPMOptions(**(TINY | {"epochs": 1, "pretrain_epochs": 1})), wsad_context_factory())
    segmenter.fit(_slices(16))
    test = _slices(16, seed=2, labels=Label.UNKNOWN)
    whole = segmenter.predict(test).scores
    # The noise is the slice's own; only the convolutions' float summation order may change with the batch
    # size (oneDNN picks algorithms by shape: ddpm's maps differ by ~6e-8 with one thread, too).
    np.testing.assert_allclose(segmenter.predict(test.select(np.arange(8))).scores, whole[:8], rtol=0, atol=1e-6)
    # As SADM's stage I: the averaged reconstructions themselves, at the slices' size.
    reconstructions = segmenter.reconstruct_slices(test)
    assert reconstructions.shape == test.images.shape
    assert np.isfinite(reconstructions).all()
