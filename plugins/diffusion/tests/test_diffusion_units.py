"""Units of the diffusion plugin against hand-computed values: schedule, noise, masking, loss, sizes, resume."""

from __future__ import annotations

import math

import numpy as np
import opensimplex
import pytest
import torch
from wsad_diffusion.config import DDPMOptions, MDDPMOptions, PDDPMOptions
from wsad_diffusion.masking import fpm, fpm_cm, grid_boxes, ipm, rectangles
from wsad_diffusion.networks import build_scheduler, build_unet
from wsad_diffusion.noise import simplex_field, simplex_noise
from wsad_diffusion.segmenter import DDPMSegmenter, MDDPMSegmenter, PDDPMSegmenter

from wsad_core import Label
from wsad_core.testing import InterruptAt, toy_volumes

TINY = {
    "image_size": 32, "channels": (16, 32), "num_res_blocks": 1, "num_head_channels": 16, "norm_groups": 8,
    "timesteps": 100, "test_timestep": 50, "noise": "gaussian", "epochs": 2, "epoch_sampling": "all-slices",
    "batch_size": 8, "median_size": 3, "erosion_iterations": 1, "learning_rate": 1e-3,
}  # fmt: skip


def test_the_published_network_is_constructed_at_its_size() -> None:
    """OpenAI-UNet layout on MONAI: 128/256/256, 3 blocks, 64-channel heads; 96² in and out (not trained)."""
    model = build_unet(DDPMOptions(), in_channels=1)
    # The papers state no parameter count; this is MONAI's count for the published configuration.
    assert sum(p.numel() for p in model.parameters()) == 34_493_313
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 96, 96), torch.tensor([500])).shape == (1, 1, 96, 96)


def test_the_cosine_schedule_and_forward_process_match_the_closed_form() -> None:
    """ᾱ_t = f(t+1)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008; x_t = √ᾱ x0 + √(1-ᾱ) ε."""
    scheduler = build_scheduler(DDPMOptions())

    def f(t: float) -> float:
        return math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2

    for t in (0, 250, 499, 750):
        assert float(scheduler.alphas_cumprod[t]) == pytest.approx(f(t + 1) / f(0), rel=1e-5)
    x0, eps = torch.full((1, 1, 4, 4), 0.7), torch.full((1, 1, 4, 4), -1.3)
    a = float(scheduler.alphas_cumprod[499])
    noisy = scheduler.add_noise(original_samples=x0, noise=eps, timesteps=torch.tensor([499]))
    assert torch.allclose(noisy, torch.full_like(x0, math.sqrt(a) * 0.7 - math.sqrt(1 - a) * 1.3), atol=1e-6)


def test_simplex_noise_is_the_octave_sum_and_each_sample_its_own_field() -> None:
    opensimplex.seed(0)
    single = opensimplex.noise3array(np.arange(8) / 64.0, np.arange(6) / 64.0, np.array([3.0 / 64.0]))[0]
    one_octave = simplex_field(6, 8, 3.0, octaves=1)
    np.testing.assert_allclose(one_octave, single)
    two = simplex_field(6, 8, 3.0, octaves=2, persistence=0.8)
    opensimplex.seed(0)
    second = opensimplex.noise3array(np.arange(8) / 32.0, np.arange(6) / 32.0, np.array([3.0 / 32.0]))[0]
    np.testing.assert_allclose(two, single + 0.8 * second)
    noise = simplex_noise((3, 1, 16, 16), torch.Generator().manual_seed(0), frequency=8.0)
    again = simplex_noise((3, 1, 16, 16), torch.Generator().manual_seed(0), frequency=8.0)
    assert torch.equal(noise, again), "the run's generator determines the fields"
    assert not torch.equal(noise[0], noise[1])
    assert float(noise.abs().max()) <= sum(0.8**i for i in range(6))


def test_grid_and_masks() -> None:
    assert grid_boxes(96, 48) == [(0, 48, 0, 48), (0, 48, 48, 96), (48, 96, 0, 48), (48, 96, 48, 96)]
    brain = torch.zeros(32, 32, dtype=torch.bool)
    brain[4:28, 6:26] = True
    generator = torch.Generator().manual_seed(3)
    for _ in range(20):
        mask = rectangles(brain, generator)
        rows, cols = torch.nonzero(mask, as_tuple=True)
        if rows.numel():
            assert (int(rows.min()), int(cols.min())) >= (4, 6)
            assert int(rows.max()) < 28
            assert int(cols.max()) < 26
    image = torch.rand(32, 32) * brain
    masked = ipm(image, brain, torch.Generator().manual_seed(1))
    changed = masked != image
    assert torch.all(masked[changed] == 0), "IPM only zeroes"
    flat = torch.full((32, 32), 0.5)
    low = fpm(flat, torch.ones(32, 32, dtype=torch.bool), torch.Generator().manual_seed(0))
    # A constant image is pure DC: the low-pass keeps it, the high-pass removes it.
    assert torch.allclose(low, flat, atol=1e-5) or torch.allclose(low, torch.zeros_like(flat), atol=1e-5)
    filled = fpm_cm(image, brain, torch.Generator().manual_seed(5))
    outside = ~brain
    assert torch.equal(filled[outside], image[outside])


class _ConstantModel(torch.nn.Module):
    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        del timesteps
        return torch.full_like(x, 0.25)


def test_the_patched_loss_counts_only_the_noised_box(wsad_context_factory) -> None:
    segmenter = PDDPMSegmenter(PDDPMOptions(**TINY, patch_size=16), wsad_context_factory())
    clean = torch.rand(2, 1, 32, 32)
    boxes = torch.zeros(2, 1, 32, 32)
    boxes[0, :, :16, :16] = 1
    boxes[1, :, 16:, 16:] = 1
    batch = (clean, clean, torch.ones_like(clean), torch.randn_like(clean), torch.tensor([10, 90]), boxes)
    expected = float(((0.25 - clean).abs() * boxes).sum() / clean.numel())
    assert float(segmenter.loss(_ConstantModel(), batch)) == pytest.approx(expected, rel=1e-6)
    plain = DDPMSegmenter(DDPMOptions(**TINY), wsad_context_factory(name="plain"))
    full = (clean, clean, torch.ones_like(clean), torch.randn_like(clean), torch.tensor([10, 90]), None)
    assert float(plain.loss(_ConstantModel(), full)) == pytest.approx(float((0.25 - clean).abs().mean()), rel=1e-6)


def test_training_lowers_the_loss_and_an_epoch_is_one_slice_per_volume(wsad_context_factory) -> None:
    segmenter = MDDPMSegmenter(MDDPMOptions(**(TINY | {"epochs": 30, "epoch_sampling": "slice-per-volume"}),
                                            patch_size=16), wsad_context_factory())  # fmt: skip
    segmenter.fit(toy_volumes(32))
    history = segmenter.history
    assert history is not None
    assert history.completed == 30
    # 4 volumes → one batch of 4 slices per epoch; the L1 loss falls from the untrained network's.
    assert np.mean(history.train_loss[-5:]) < 0.5 * history.train_loss[0]


def test_an_interrupted_training_resumes_to_the_same_maps(wsad_context_factory) -> None:
    options = DDPMOptions(**(TINY | {"epochs": 4}))
    train, test = toy_volumes(16), toy_volumes(8, seed=1, labels=Label.UNKNOWN)
    straight = DDPMSegmenter(options, wsad_context_factory(name="straight"))
    straight.fit(train)
    with pytest.raises(KeyboardInterrupt):
        DDPMSegmenter(options, wsad_context_factory(name="resumed", progress=InterruptAt("ddpm 3/4"))).fit(train)
    resumed = DDPMSegmenter(options, wsad_context_factory(name="resumed"))
    resumed.fit(train)
    assert resumed.history is not None
    assert resumed.history.resumed_at == [2]
    np.testing.assert_array_equal(resumed.predict(test).scores, straight.predict(test).scores)


def test_a_slices_map_does_not_depend_on_its_batch(wsad_context_factory) -> None:
    segmenter = PDDPMSegmenter(PDDPMOptions(**TINY, patch_size=16), wsad_context_factory())
    segmenter.fit(toy_volumes(16))
    test = toy_volumes(16, seed=2, labels=Label.UNKNOWN)
    whole = segmenter.predict(test).scores
    first_volume = segmenter.predict(test.select(np.arange(8))).scores
    np.testing.assert_array_equal(first_volume, whole[:8])
