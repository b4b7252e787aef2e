"""SADM (sadm, sadm_res) against hand-checkable facts: Perlin noise, DRAEM, the U-Net, SSIM, training, resume.

Stage I is a tiny ``ddpm`` here (so these tests do not depend on ``cddpm``), built through the context's
``build_stage`` like in a run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from wsad_diffusion.config_sadm import SADMOptions
from wsad_diffusion.draem import (
    AUGMENTERS,
    OPACITY,
    augment,
    blend,
    draem_batch,
    draem_sample,
    perlin_from_gradients,
    perlin_noise,
)
from wsad_diffusion.sadm import SADMResSegmenter, SADMSegmenter
from wsad_diffusion.siamese import SiameseUNet, group_count, widths
from wsad_diffusion.ssim import gaussian_window, ssim_map

from wsad_core import ContractError, MaskSet
from wsad_core.reconstruction import median_3d
from wsad_core.testing import InterruptAt, toy_batch

TINY_DDPM = {
    "image_size": 32, "channels": (16, 32), "num_res_blocks": 1, "num_head_channels": 16, "norm_groups": 8,
    "timesteps": 100, "test_timestep": 50, "noise": "gaussian", "epochs": 1, "epoch_sampling": "all-slices",
    "batch_size": 8, "median_size": 3, "erosion_iterations": 1,
}  # fmt: skip
TINY = {
    "reconstruction": "ddpm", "reconstruction_options": TINY_DDPM, "image_size": 32, "depth": 2,
    "base_channels": 8, "epochs": 2, "epoch_sampling": "all-slices", "batch_size": 8, "median_size": 3,
}  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # These networks are tiny: on shared 2-core machines one thread avoids oversubscription (6x faster here).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _brain(size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    return ((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.36) ** 2 <= 1


# --- Perlin noise --------------------------------------------------------------------------------------------
def test_perlin_noise_on_one_cell_by_hand() -> None:
    """One 4x4 cell, gradients (1,0) (0,1) (-1,0) (0,-1) at its corners: 0 at the corner, √2/4 at the centre."""
    gradients = np.zeros((2, 2, 2))
    gradients[0, 0], gradients[1, 0], gradients[0, 1], gradients[1, 1] = (1, 0), (0, 1), (-1, 0), (0, -1)
    noise = perlin_from_gradients((4, 4), gradients)
    assert noise[0, 0] == 0.0
    # At (0.5, 0.5) the fade is 0.5: dots 0.5, 0.5 (row +1), -0.5 (column +1), 0.5; interpolated and times √2.
    assert noise[2, 2] == pytest.approx(math.sqrt(2) * (0.5 * 0.5 + 0.5 * (0.5 * -0.5 + 0.5 * 0.5)))
    # Along the first row only the corner gradients (1,0) and (-1,0) act, both orthogonal to the offset: 0.
    np.testing.assert_allclose(noise[0], 0.0, atol=1e-12)


def test_perlin_noise_vanishes_on_the_lattice_is_bounded_and_seeded() -> None:
    noise = perlin_noise((64, 64), (4, 8), np.random.default_rng(3))
    assert noise.shape == (64, 64)
    np.testing.assert_allclose(noise[::16, ::8], 0.0, atol=1e-12)  # lattice points every 64/4 rows, 64/8 columns
    assert np.abs(noise).max() <= 1.0 + 1e-12
    assert noise.std() > 0.05
    np.testing.assert_array_equal(noise, perlin_noise((64, 64), (4, 8), np.random.default_rng(3)))
    assert not np.array_equal(noise, perlin_noise((64, 64), (4, 8), np.random.default_rng(4)))
    with pytest.raises(ValueError, match="does not divide"):
        perlin_noise((60, 64), (8, 8), np.random.default_rng(0))


# --- DRAEM ------------------------------------------------------------------------------------------------
def test_the_blend_formula_on_a_constructed_case() -> None:
    image, source = np.full((1, 4, 4), 0.4), np.full((1, 4, 4), 0.9)
    mask = np.zeros((1, 4, 4), bool)
    mask[..., :2] = True
    out = blend(image, mask, source, 0.25)
    np.testing.assert_allclose(out[..., :2], 0.25 * 0.9 + 0.75 * 0.4)  # γ aug + (1 - γ) x inside
    np.testing.assert_array_equal(out[..., 2:], 0.4)  # x outside


def test_draem_anomalies_stay_in_the_brain_and_follow_the_blend() -> None:
    brain = _brain()
    image = (np.random.default_rng(0).uniform(0.3, 0.6, (1, 32, 32)) * brain).astype(np.float32)
    rng = np.random.default_rng(1)
    opacities, nonempty = [], 0
    for _ in range(40):
        sample = draem_sample(image, brain, rng)
        assert not (sample.mask & ~brain).any(), "the mask is cut to the brain"
        np.testing.assert_array_equal(sample.image[:, ~sample.mask], image[:, ~sample.mask])
        expected = blend(image.astype(np.float64), sample.mask[None], sample.source[None], sample.opacity)
        np.testing.assert_allclose(sample.image, expected.astype(np.float32))
        assert len(set(sample.augmenters)) == 3
        assert set(sample.augmenters) <= set(AUGMENTERS)
        assert 0.0 <= sample.source.min() <= sample.source.max() <= 1.0
        opacities.append(sample.opacity)
        nonempty += bool(sample.mask.any())
    assert OPACITY[0] <= min(opacities) <= max(opacities) <= OPACITY[1]
    assert nonempty >= 10, "most draws put an anomaly into the brain"


def test_anomalies_that_miss_the_brain_are_dropped_and_a_seed_fixes_the_batch() -> None:
    images = torch.rand(6, 1, 32, 32)
    no_brain = torch.zeros(6, 1, 32, 32)
    made = draem_batch(images, no_brain, torch.Generator().manual_seed(0))
    assert not made.kept.any()
    assert torch.equal(made.images, images)
    assert not made.masks.any()
    brain = torch.from_numpy(_brain()[None, None].repeat(6, axis=0).astype(np.float32))
    first = draem_batch(images, brain, torch.Generator().manual_seed(5))
    again = draem_batch(images, brain, torch.Generator().manual_seed(5))
    other = draem_batch(images, brain, torch.Generator().manual_seed(6))
    assert torch.equal(first.images, again.images)
    assert torch.equal(first.masks, again.masks)
    assert not torch.equal(first.masks, other.masks)
    assert torch.equal(first.kept, first.masks.flatten(1).any(dim=1))


def test_the_augmenters_on_grey_images() -> None:
    ramp = np.tile(np.linspace(0.2, 0.6, 32), (32, 1))
    for name, augmenter in AUGMENTERS.items():
        out = augmenter(ramp, np.random.default_rng(0))
        assert out.shape == ramp.shape, name
        assert 0.0 <= out.min() <= out.max() <= 1.0, name
    assert np.array_equal(AUGMENTERS["invert"](ramp, np.random.default_rng(0)), 1.0 - ramp)
    assert np.array_equal(AUGMENTERS["hue_saturation"](ramp, np.random.default_rng(0)), ramp), "no-op on grey"
    for seed in range(5):
        bits = int(np.random.default_rng(seed).integers(1, 9))
        levels = np.round(AUGMENTERS["posterize"](ramp, np.random.default_rng(seed)) * 255).astype(int)
        assert not (levels & ((1 << (8 - bits)) - 1)).any(), "only the top bits are kept"
        stretched = AUGMENTERS["autocontrast"](ramp, np.random.default_rng(seed))
        assert (stretched.min(), stretched.max()) == (0.0, 1.0), "the remaining range is stretched to 0..255"
        equalised = AUGMENTERS["equalize"](ramp, np.random.default_rng(seed))
        assert np.all(np.diff(equalised[0]) >= 0), "equalisation keeps the order of the levels"
        assert equalised.max() - equalised.min() > 0.9
    flat = np.full((8, 8), 0.5)
    assert np.allclose(augment(flat, ("sharpness",), np.random.default_rng(0)), 0.5), "nothing to sharpen"


# --- the U-Net ----------------------------------------------------------------------------------------------
def test_the_unet_shapes_and_that_only_the_res_variant_reads_the_reconstruction() -> None:
    assert [group_count(c) for c in (64, 128, 256, 512)] == [8, 16, 16, 32]  # the DAE's GroupNorm groups
    images, first, second = torch.rand(2, 2, 32, 32), torch.rand(2, 2, 32, 32), torch.rand(2, 2, 32, 32)
    torch.manual_seed(0)
    plain = SiameseUNet(2, widths(8, 3), residual=False).eval()
    res = SiameseUNet(2, widths(8, 3), residual=True).eval()
    with torch.no_grad():
        assert plain(images, first).shape == res(images, first).shape == (2, 1, 32, 32)
        assert torch.equal(plain(images, first), plain(images, second)), "sadm sees the input only"
        assert not torch.allclose(res(images, first), res(images, second)), "sadm_res reads x - x_hat"
        assert torch.equal(res(images, images), res(images, images.clone()))
    with pytest.raises(ValueError, match="reconstructions"):
        res(images)


def test_published_networks_are_constructed_at_their_size() -> None:
    """Appendix B.1: 3 levels 64/128/256 (the code's default: 4 levels up to 512); not trained.

    The paper states no parameter count; these are this implementation's.
    """
    counts = {
        (depth, residual): sum(p.numel() for p in SiameseUNet(1, widths(64, depth), residual=residual).parameters())
        for depth in (3, 4)
        for residual in (False, True)
    }
    assert counts == {(3, False): 1_864_257, (3, True): 4_016_065, (4, False): 7_701_825, (4, True): 16_736_705}
    defaults = SADMOptions()
    assert (defaults.depth, defaults.base_channels, defaults.learning_rate, defaults.batch_size) == (3, 64, 5e-5, 32)
    assert (defaults.epochs, defaults.image_size, defaults.beta, defaults.median_size) == (600, 96, 0.5, 5)


# --- SSIM ---------------------------------------------------------------------------------------------------
def _ssim_by_hand(x: np.ndarray, y: np.ndarray, point: tuple[int, ...], window: np.ndarray) -> float:
    """SSIM at ``point`` from its definition: reflect-padded neighbourhood, product Gaussian weights."""
    radius = len(window) // 2
    px, py = np.pad(x, radius, mode="reflect"), np.pad(y, radius, mode="reflect")
    region = tuple(slice(p, p + len(window)) for p in point)
    weights = window
    for _ in range(x.ndim - 1):
        weights = np.multiply.outer(weights, window)
    a, b = px[region], py[region]
    mu_a, mu_b = (weights * a).sum(), (weights * b).sum()
    var_a, var_b = (weights * a * a).sum() - mu_a**2, (weights * b * b).sum() - mu_b**2
    cov = (weights * a * b).sum() - mu_a * mu_b
    data_range = max(np.ptp(x), np.ptp(y))
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def test_ssim_matches_its_definition_in_2d_and_3d() -> None:
    window = gaussian_window(1.0)
    assert len(window) == 9  # 2 * int(3.5 + 0.5) + 1
    assert window.sum() == pytest.approx(1.0)
    taps = np.exp(-0.5 * np.arange(-4, 5) ** 2)
    np.testing.assert_allclose(window, taps / taps.sum())
    rng = np.random.default_rng(0)
    volume = rng.uniform(0, 1, (6, 20, 20))
    recon = np.clip(volume + rng.normal(0, 0.1, volume.shape), 0, 1)
    full = ssim_map(volume, recon)
    for point in [(0, 0, 0), (3, 10, 10), (5, 19, 2), (2, 1, 18)]:
        assert full[point] == pytest.approx(_ssim_by_hand(volume, recon, point, window), rel=1e-10)
    flat = ssim_map(volume[2], recon[2])
    for point in [(0, 0), (10, 10), (19, 3)]:
        assert flat[point] == pytest.approx(_ssim_by_hand(volume[2], recon[2], point, window), rel=1e-10)
    np.testing.assert_allclose(ssim_map(volume, volume), 1.0)
    # Anti-correlated structure gives negative SSIM, so 1 - SSIM exceeds 1: SADM's map is a score, not a probability.
    assert ssim_map(volume, 1.0 - volume).min() < 0.0


def test_ssim_matches_scikit_image_away_from_the_border() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (24, 24))
    recon = np.clip(image + rng.normal(0, 0.2, image.shape), 0, 1)
    data_range = max(np.ptp(image), np.ptp(recon))
    _, reference = metrics.structural_similarity(
        image, recon, full=True, gaussian_weights=True, sigma=1.0, use_sample_covariance=False, data_range=data_range
    )
    # skimage pads by repeating the edge where torchmetrics (and ssim_map) reflect without it: compare inside.
    np.testing.assert_allclose(ssim_map(image, recon)[4:-4, 4:-4], reference[4:-4, 4:-4], rtol=1e-9)


# --- the segmenter ------------------------------------------------------------------------------------------
def test_the_score_is_beta_ssim_plus_one_minus_beta_unet(wsad_context_factory) -> None:
    """At the method's size: β = 1 gives median₃((1 - SSIM(x, x̂)) brain), β = 0 the U-Net's sigmoid times brain."""
    batch = toy_batch(size=32)
    segmenter = SADMResSegmenter(SADMOptions(**TINY), wsad_context_factory())
    segmenter.fit(batch.train)
    test = batch.test
    recon = segmenter.stage1.reconstruct_slices(test)
    assert recon.shape == test.images.shape
    brain = test.brain_masks
    ssim = np.zeros(brain.shape)
    for case in dict.fromkeys(test.case_ids):
        positions = np.flatnonzero(np.asarray(test.case_ids) == case)
        positions = positions[np.argsort(test.slice_indices[positions])]
        ssim[positions] = ssim_map(test.images[positions, 0], recon[positions, 0])
    expected_ssim = median_3d(((1 - ssim) * brain).astype(np.float32), test.case_ids, test.slice_indices, 3)
    with torch.no_grad():
        logits = segmenter.model(torch.from_numpy(test.images), torch.from_numpy(recon))
    expected_unet = torch.sigmoid(logits)[:, 0].numpy() * brain
    maps = {}
    for beta in (0.0, 0.5, 1.0):
        segmenter.options = segmenter.options.model_copy(update={"beta": beta})
        maps[beta] = segmenter.predict(test)
        assert maps[beta].kind == "score"
    np.testing.assert_allclose(maps[1.0].scores, expected_ssim, atol=1e-6)
    np.testing.assert_allclose(maps[0.0].scores, expected_unet, atol=1e-6)
    np.testing.assert_allclose(maps[0.5].scores, 0.5 * expected_ssim + 0.5 * expected_unet, atol=1e-6)


def test_stage_two_training_lowers_the_bce(wsad_context_factory) -> None:
    batch = toy_batch(size=32)
    options = SADMOptions(**(TINY | {"epochs": 25, "learning_rate": 1e-3, "stage2_data": "pseudo-masks"}))
    segmenter = SADMResSegmenter(options, wsad_context_factory())
    segmenter.fit(batch.train, batch.pseudo_masks())
    losses = segmenter.history.train_loss
    assert segmenter.history.completed == 25
    assert np.mean(losses[-3:]) < 0.5 * losses[0]


def test_the_weakly_supervised_path_trains_on_the_given_pseudo_masks(wsad_context_factory) -> None:
    batch = toy_batch(size=32)
    options = SADMOptions(**(TINY | {"epochs": 4, "learning_rate": 1e-3}))  # stage2_data auto
    real = SADMSegmenter(options, wsad_context_factory(name="real"))
    real.fit(batch.train, batch.pseudo_masks())
    shape = batch.train_truth.shape
    empty = MaskSet(np.zeros(shape, np.float32), np.zeros(shape, bool), "empty")
    blank = SADMSegmenter(options, wsad_context_factory(name="blank"))
    blank.fit(batch.train, empty)
    assert real.stage2_data == blank.stage2_data == "pseudo-masks"
    assert real.provenance["stage2_anomalous_slices"] == int(batch.train_truth.any(axis=(1, 2)).sum()) == 8
    assert blank.provenance["stage2_anomalous_slices"] == 0
    assert real.history.train_loss != blank.history.train_loss
    assert not np.array_equal(real.predict(batch.test).scores, blank.predict(batch.test).scores)
    assert any(d.what == "stage-II supervision" for d in real.deviations), "every row says: pseudo-masks, not GT"
    with pytest.raises(ContractError, match="pseudo-masks"):
        SADMSegmenter(SADMOptions(**(TINY | {"stage2_data": "pseudo-masks"})), wsad_context_factory()).fit(batch.train)


def test_stage_one_must_expose_reconstructions(wsad_context_factory) -> None:
    options = SADMOptions(**(TINY | {"reconstruction": "unet", "reconstruction_options": {}}))
    with pytest.raises(ContractError, match="reconstruct_slices"):
        SADMSegmenter(options, wsad_context_factory()).fit(toy_batch(size=32).train)


def test_an_interrupted_training_resumes_to_the_same_maps(wsad_context_factory) -> None:
    batch = toy_batch(size=32)
    options = SADMOptions(**(TINY | {"epochs": 4}))
    straight = SADMResSegmenter(options, wsad_context_factory(name="straight"))
    straight.fit(batch.train)
    with pytest.raises(KeyboardInterrupt):
        SADMResSegmenter(options, wsad_context_factory(name="resumed", progress=InterruptAt("sadm_res 3/4"))).fit(
            batch.train
        )
    resumed = SADMResSegmenter(options, wsad_context_factory(name="resumed"))
    resumed.fit(batch.train)
    assert resumed.history.resumed_at == [2]
    assert resumed.stage2_data == "draem"
    np.testing.assert_array_equal(resumed.predict(batch.test).scores, straight.predict(batch.test).scores)


def test_reconstruct_slices_is_what_a_reconstruction_segmenter_scores(wsad_context_factory) -> None:
    """The core's ReconstructionSegmenter.reconstruct_slices: (N, C, H, W) at the slice size, = predict's x_hat."""
    from wsad_diffusion.config import DDPMOptions
    from wsad_diffusion.segmenter import DDPMSegmenter

    from wsad_core import Reconstructor

    batch = toy_batch(size=32)
    ddpm = DDPMSegmenter(DDPMOptions(**TINY_DDPM), wsad_context_factory())
    ddpm.fit(batch.train)
    assert isinstance(ddpm, Reconstructor)
    recon = ddpm.reconstruct_slices(batch.test)
    assert recon.shape == batch.test.images.shape
    assert recon.dtype == np.float32
    residual = np.abs(batch.test.images - recon).mean(axis=1)
    brain = batch.test.brain_masks
    expected = np.where(brain, ddpm.postprocess(residual, brain, batch.test), 0.0)
    np.testing.assert_allclose(ddpm.predict(batch.test).scores, expected, atol=1e-6)
    bigger = toy_batch(size=64).test
    assert ddpm.reconstruct_slices(bigger).shape == bigger.images.shape, "back at the slices' own size"


@pytest.mark.slow
def test_self_supervised_sadm_res_finds_synthetic_lesions_it_never_saw(tmp_path) -> None:
    """Trained on DRAEM anomalies only, sadm_res ranks the toy set's bright discs high (pixel AUROC in the brain).

    Measured (seed 1, stage I = ddpm 24 epochs at lr 1e-3, stage II 20 epochs at lr 1e-3, 1 thread, ~15 s):
    the SSIM part alone (beta 1) 0.948, the U-Net alone (beta 0) 0.924, the published beta 0.5 0.963; the
    weakly supervised sadm on the toy truth 0.971.
    """
    from wsad_core import PluginHost
    from wsad_core.testing._checks import check_learns

    stage1 = {**TINY_DDPM, "epochs": 24, "learning_rate": 1e-3}
    options = {**TINY, "reconstruction_options": stage1, "stage2_data": "draem", "epochs": 20, "learning_rate": 1e-3}
    lesions = toy_batch(n_train=32, n_test=16, size=64, seed=1)
    auroc = check_learns(PluginHost(disabled=()), "segmenter", "sadm_res", options, lesions, tmp_path, floor=0.9)
    assert auroc > 0.9
