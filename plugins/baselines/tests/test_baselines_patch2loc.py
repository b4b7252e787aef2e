"""Patch2Loc's pieces against hand-computed values, and that it learns where patches come from."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from wsad_baselines.config_patch2loc import Patch2LocOptions
from wsad_baselines.patch2loc import Patch2LocSegmenter, _patches, slice_positions
from wsad_baselines.torch_patch2loc import Patch2LocNet, beta_nll, position_embedding

from wsad_core import Label, SliceSet


def test_published_network_shapes() -> None:
    net = Patch2LocNet(1, 512).eval()
    assert net.backbone.conv1.kernel_size == (3, 3)
    assert net.backbone.conv1.stride == (2, 2)
    assert net.backbone.conv1.padding == (3, 3)
    assert Patch2LocOptions().patch_size == 24
    with torch.no_grad():
        mean, log_variance = net(torch.zeros(5, 1, 24, 24), torch.full((5,), 40.0))
    assert mean.shape == log_variance.shape == (5, 2)
    head = [m.out_features for m in net.mean_head if isinstance(m, torch.nn.Linear)]
    assert head == [512, 128, 64, 32, 2]


def test_beta_nll_by_hand() -> None:
    mean, log_variance = torch.tensor([[1.0, 2.0]]), torch.tensor([[math.log(4.0), 0.0]])
    target = torch.tensor([[3.0, 2.0]])
    # coordinate 1: 0.5 * (4/4 + log 4) * 4^0.5; coordinate 2: 0.5 * (0 + 0) * 1
    expected = 0.5 * (1.0 + math.log(4.0)) * 2.0
    assert float(beta_nll(mean, log_variance, target, 0.5)) == pytest.approx(expected)
    assert float(beta_nll(mean, log_variance, target, 0.0)) == pytest.approx(0.5 * (1.0 + math.log(4.0)))


def test_position_embedding_and_slice_positions() -> None:
    embedding = position_embedding(torch.tensor([0.0, 50.0]), 8)
    np.testing.assert_allclose(embedding[0].numpy(), [0, 0, 0, 0, 1, 1, 1, 1], atol=1e-7)
    assert float(embedding[1, 0]) == pytest.approx(math.sin(50.0))
    brain = np.ones((6, 4, 4), bool)
    brain[0] = False  # slice 10 of v0 has no brain: positions start at slice 11
    slices = SliceSet(
        images=np.zeros((6, 1, 4, 4), np.float32),
        brain_masks=brain,
        labels=np.zeros(6, np.int8),
        case_ids=("v0", "v0", "v0", "v1", "v1", "v1"),
        slice_indices=np.array([10, 11, 12, 30, 31, 32], np.int32),
        modalities=("t2",),
    )
    np.testing.assert_allclose(slice_positions(slices), [0, 0, 50, 0, 100 / 3, 200 / 3], atol=1e-5)


def test_patches_are_centred_and_zero_padded() -> None:
    image = torch.arange(36.0).reshape(1, 1, 6, 6)
    brain = torch.ones_like(image)
    patches, fraction = _patches(image, brain, torch.tensor([0, 0]), torch.tensor([[2, 3], [0, 0]]), 4)
    np.testing.assert_array_equal(patches[0, 0].numpy(), image[0, 0, 0:4, 1:5].numpy())
    assert float(fraction[0]) == 1.0
    assert float(fraction[1]) == pytest.approx(4 / 16), "a corner centre: three quarters of the patch is padding"


@pytest.mark.slow  # about a minute on 2 cores: 400 Adam steps of ResNet-18
def test_it_learns_where_patches_come_from(wsad_context_factory) -> None:
    """After training, the location error of test patches falls far below that of the untrained network.

    At the published learning rate the output layer needs a few hundred steps to reach the targets' scale
    (percent of the side): measured 76 untrained, 11.5 after 400 steps (34.6 after 200, seed 0).
    """
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 32
    brain = ((yy - 0.5) / 0.45) ** 2 + ((xx - 0.5) / 0.4) ** 2 <= 1
    # Anatomy-like structure: intensity depends on the position, so a patch says where it is.
    images = (0.3 + 0.5 * yy + 0.2 * np.sin(6 * xx))[None, None] * brain + rng.normal(0, 0.01, (24, 1, 32, 32))
    slices = SliceSet(
        images=images.astype(np.float32) * brain,
        brain_masks=np.repeat(brain[None], 24, axis=0),
        labels=np.full(24, Label.HEALTHY, np.int8),
        case_ids=tuple(f"v{i // 8}" for i in range(24)),
        slice_indices=np.arange(24, dtype=np.int32) % 8,
        modalities=("t2",),
    )
    options = Patch2LocOptions(
        image_size=32, patches_per_batch=128, slices_per_batch=8, latent_dim=32, epochs=2, batches_per_epoch=200,
        stride=4, erosion_iterations=1, median_size=1,
    )  # fmt: skip
    untrained = Patch2LocSegmenter(options.model_copy(update={"epochs": 1, "learning_rate": 1e-9}),
                                   wsad_context_factory(name="untrained"))  # fmt: skip
    untrained.fit(slices)
    trained = Patch2LocSegmenter(options, wsad_context_factory(name="trained"))
    trained.fit(slices)
    generator = torch.Generator().manual_seed(5)
    from wsad_core.reconstruction import HealthySlices

    data = HealthySlices.select(slices, 32, torch.device("cpu"), method="patch2loc", what="training")
    batch = trained._batch(data, torch.arange(8), generator)

    def error(segmenter: Patch2LocSegmenter) -> float:
        assert segmenter.model is not None
        segmenter.model.eval()
        with torch.no_grad():
            mean, _ = segmenter.model(batch[0], batch[1])
        return float(((mean - batch[2]) ** 2).sum(dim=1).sqrt().mean())

    assert error(trained) < 0.4 * error(untrained)
