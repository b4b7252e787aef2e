from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest

from wsad_core.errors import ContractError
from wsad_core.results import choose_overlay_slices, save_overlay


def _slice(seed: int = 0, noise: float = 0.02):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:128, :128]
    brain = (yy - 64) ** 2 + (xx - 64) ** 2 < 55**2
    image = (brain * (0.5 + noise * rng.standard_normal((128, 128)))).astype(np.float32)
    truth = (yy - 50) ** 2 + (xx - 70) ** 2 < 15**2
    pseudo = (yy - 52) ** 2 + (xx - 68) ** 2 < 18**2
    prediction = np.clip(np.exp(-((yy - 50) ** 2 + (xx - 70) ** 2) / 400.0), 0, 1).astype(np.float32)
    return image, truth, pseudo, prediction


def _green_pixels(png: np.ndarray) -> int:
    # The GT contour colour is #00e676; anti-aliasing blends it, so count green-dominant pixels.
    red, green, blue = png[..., 0], png[..., 1], png[..., 2]
    return int(((green - red > 0.3) & (green - blue > 0.15)).sum())


def test_overlay_png_is_written_and_non_trivial(tmp_path):
    image, truth, pseudo, prediction = _slice()
    path = tmp_path / "overlays" / "c1_k070.png"
    save_overlay(path, image=image, truth=truth, pseudo=pseudo, prediction=prediction, threshold=0.5, title="c1 k=70")
    assert 10_000 < path.stat().st_size < 150_000
    png = mpimg.imread(path)
    assert png.shape[0] > 200
    assert png.shape[1] > 3 * png.shape[0]  # four panels side by side
    assert png[..., :3].std() > 0.1
    assert list(tmp_path.joinpath("overlays").iterdir()) == [path]


def test_ground_truth_contour_is_drawn(tmp_path):
    image, truth, pseudo, prediction = _slice()
    save_overlay(
        tmp_path / "a.png",
        image=image,
        truth=truth,
        pseudo=pseudo,
        prediction=prediction,
        threshold=0.5,
        title="with truth",
    )
    save_overlay(
        tmp_path / "b.png", image=image, truth=None, pseudo=None, prediction=prediction, threshold=0.5, title="without"
    )
    with_truth = _green_pixels(mpimg.imread(tmp_path / "a.png"))
    without = _green_pixels(mpimg.imread(tmp_path / "b.png"))
    assert with_truth > without + 100  # two GT contours (panels 2 and 4) vs. the legend line only


def test_noisy_map_stays_small(tmp_path):
    rng = np.random.default_rng(3)
    image = rng.random((256, 256), dtype=np.float32)
    prediction = (rng.random((256, 256)) * 4 - 2).astype(np.float32)
    save_overlay(
        tmp_path / "n.png", image=image, truth=None, pseudo=None, prediction=prediction, threshold=0.0, title="noise"
    )
    assert (tmp_path / "n.png").stat().st_size < 150_000


def test_no_pyplot_figures_leak(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    before = plt.get_fignums()
    image, truth, pseudo, prediction = _slice()
    save_overlay(
        tmp_path / "a.png", image=image, truth=truth, pseudo=pseudo, prediction=prediction, threshold=0.5, title="t"
    )
    assert plt.get_fignums() == before


def test_shape_mismatch_is_refused(tmp_path):
    image, truth, pseudo, prediction = _slice()
    with pytest.raises(ContractError, match="prediction has shape"):
        save_overlay(
            tmp_path / "a.png",
            image=image,
            truth=truth,
            pseudo=pseudo,
            prediction=prediction[:64],
            threshold=0.5,
            title="t",
        )
    assert not (tmp_path / "a.png").exists()


def test_choose_slices_round_robin_largest_first():
    cases = ["b", "b", "b", "a", "a", "c"]
    lesions = [10, 500, 30, 200, 900, 0]
    # Round 1 (sorted case ids): a's largest (pos 4), b's largest (pos 1), c's only slice (pos 5); round 2: a, b.
    assert choose_overlay_slices(cases, lesions, 10) == [4, 1, 5, 3, 2, 0]
    assert choose_overlay_slices(cases, lesions, 4) == [4, 1, 5, 3]
    assert choose_overlay_slices(cases, lesions, 0) == []
    assert choose_overlay_slices([], [], 3) == []


def test_choose_slices_ties_prefer_the_middle_slice():
    cases = ["h"] * 5
    assert choose_overlay_slices(cases, np.zeros(5, dtype=int), 2) == [2, 1]


def test_choose_slices_is_deterministic_and_checks_lengths():
    rng = np.random.default_rng(0)
    cases = [f"c{i % 4}" for i in range(40)]
    lesions = rng.integers(0, 1000, 40)
    assert choose_overlay_slices(cases, lesions, 6) == choose_overlay_slices(cases, lesions, 6)
    with pytest.raises(ContractError, match="3 case ids"):
        choose_overlay_slices(["a", "b", "c"], [1, 2], 1)
