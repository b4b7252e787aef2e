"""The brain is a brain-mask file or an estimate that a constant negative or noisy background cannot fool.

Regression: with "voxels ≠ 0" every background voxel of a z-scored scan counted as brain (zscore
pseudo-masks fell from per-slice Dice 67 to 29 and no warning was given).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from wsad_core.data import PreprocessConfig, inspect_dataset, prepare_case
from wsad_core.data.brain import estimate_brain
from wsad_core.data.index import CaseRecord, DatasetIndex, VolumeRef
from wsad_core.data.resolve import open_dataset
from wsad_core.errors import DataError
from wsad_core.plugins import PluginHost

CONFIG = PreprocessConfig(size=64)


def _write(path: Path, array: np.ndarray, like: nib.Nifti1Image) -> Path:
    nib.save(nib.Nifti1Image(array.astype(np.float32), like.affine, like.header), path)
    return path


@pytest.fixture(scope="module")
def zscored(real_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """case_0 and case_1 of the shared cases, FLAIR z-scored over the brain: background a negative constant."""
    root = tmp_path_factory.mktemp("zscored")
    for case in ("case_0", "case_1"):
        (root / case).mkdir()
        image = nib.load(real_root / case / "FLAIR.nii.gz")
        flair = np.asarray(image.dataobj, dtype=np.float32)
        brain = flair != 0
        z = (flair - flair[brain].mean()) / flair[brain].std()  # background: -mean/std < 0 everywhere
        _write(root / case / "FLAIR.nii.gz", z, image)
        for name in ("T1.nii.gz", "GT_W.nii.gz", "subject_id.txt"):
            (root / case / name).symlink_to(real_root / case / name)
    return real_root, root


def test_a_zscored_copy_gives_the_same_brain_slices_and_labels(zscored: tuple[Path, Path]) -> None:
    original, copy = (open_dataset(str(p), PluginHost()) for p in zscored)
    for case_id in ("case_0", "case_1"):
        a = prepare_case(next(c for c in original.cases if c.case_id == case_id), ("flair",), CONFIG)
        b = prepare_case(next(c for c in copy.cases if c.case_id == case_id), ("flair",), CONFIG)
        np.testing.assert_array_equal(b.native_brain, a.native_brain)
        np.testing.assert_array_equal(b.brain_masks, a.brain_masks)
        np.testing.assert_array_equal(b.native_masks, a.native_masks)
        np.testing.assert_array_equal(b.crop_boxes, a.crop_boxes)
        # Percentile normalisation is invariant to the affine z-score: the same images up to float rounding.
        np.testing.assert_allclose(b.images, a.images, atol=1e-5)


def test_not_zero_would_have_counted_the_background_and_inspect_says_the_brain_is_plausible(
    zscored: tuple[Path, Path],
) -> None:
    _, copy = zscored
    flair = np.asarray(nib.load(copy / "case_0" / "FLAIR.nii.gz").dataobj)
    assert (flair != 0).mean() > 0.99, "the old rule: the whole field of view as brain"
    estimate = estimate_brain([flair])
    assert estimate.method == "background value"
    assert 0.1 < estimate.fraction < 0.3
    report = inspect_dataset(open_dataset(str(copy), PluginHost()), CONFIG)
    assert report.warnings == []
    assert all(0.1 < c.brain_fraction < 0.3 for c in report.cases)
    assert sum(c.brain_free for c in report.cases) > 0, "slices above the head are brain-free again"


def test_a_noisy_background_is_not_brain(real_root: Path) -> None:
    flair = np.asarray(nib.load(real_root / "case_0" / "FLAIR.nii.gz").dataobj, dtype=np.float32)
    brain = flair != 0
    noise = np.random.default_rng(0).normal(0.0, 0.01 * flair.max(), flair.shape).astype(np.float32)
    estimate = estimate_brain([np.where(brain, flair, noise)])
    assert estimate.method == "noise threshold"
    dice = 2 * (estimate.mask & brain).sum() / (estimate.mask.sum() + brain.sum())
    assert dice > 0.98


def test_a_brain_mask_file_is_used_and_an_implausible_brain_is_a_warning(real_root: Path, tmp_path: Path) -> None:
    image = nib.load(real_root / "case_0" / "FLAIR.nii.gz")
    everything = _write(tmp_path / "all.nii.gz", np.ones(image.shape), image)
    empty = _write(tmp_path / "empty.nii.gz", np.zeros(image.shape), image)
    case = CaseRecord(
        "c0",
        {"flair": VolumeRef(real_root / "case_0" / "FLAIR.nii.gz")},
        VolumeRef(real_root / "case_0" / "GT_W.nii.gz"),
    )
    with_file = dataclasses.replace(case, brain=VolumeRef(everything))
    prepared = prepare_case(with_file, ("flair",), CONFIG)
    assert prepared.native_brain.all(), "the file, not the estimate"
    report = inspect_dataset(DatasetIndex("files", tmp_path, (with_file,)), CONFIG)
    assert len(report.warnings) == 1
    assert "covers 100% of the volume (mask file)" in report.warnings[0]
    with pytest.raises(DataError, match="brain mask of case 'c0' is empty"):
        prepare_case(dataclasses.replace(case, brain=VolumeRef(empty)), ("flair",), CONFIG)
    flat = _write(tmp_path / "flat.nii.gz", np.full(image.shape, 5.0), image)
    no_brain = CaseRecord("c1", {"flair": VolumeRef(flat)})
    assert inspect_dataset(DatasetIndex("files", tmp_path, (no_brain,)), CONFIG).warnings == ["c1: no brain found"]
