"""inspect_dataset: per-case counts equal those computed from the masks."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from wsad_core.data import PreprocessConfig, inspect_dataset
from wsad_core.data.adapters import BratsOptions
from wsad_core.data.adapters.brats import index_brats
from wsad_core.data.assemble import slice_categories
from wsad_core.errors import DataError

from .conftest import phantom


def test_counts_match_masks(tmp_path: Path) -> None:
    root = tmp_path / "data"
    cases = {}
    for i in range(3):
        names = {"flair": f"c{i}_flair.nii.gz", "t1": f"c{i}_t1.nii.gz", "seg": f"c{i}_seg.nii.gz" if i < 2 else ""}
        cases[f"c{i}"] = phantom(seed=i, lesions=2)
        cases[f"c{i}"].write(root / f"c{i}", names)
    config = PreprocessConfig(skip_first=0, skip_last=0, min_lesion_pixels=20)
    report = inspect_dataset(index_brats(BratsOptions(), root), config)
    assert [c.case_id for c in report.cases] == ["c0", "c1", "c2"]
    for row in report.cases[:2]:
        synthetic = cases[row.case_id]
        per_slice = synthetic.mask.sum(axis=(0, 1))
        brain = synthetic.brain.any(axis=(0, 1))
        expected = {k: int(v.sum()) for k, v in slice_categories(per_slice, brain, 20).items()}
        assert expected["anomalous"] > 0
        assert expected["brain_free"] > 0
        assert (row.anomalous, row.healthy, row.ambiguous, row.brain_free) == (
            expected["anomalous"],
            expected["healthy"],
            expected["ambiguous"],
            expected["brain_free"],
        )
        assert row.lesion_voxels == int(synthetic.mask.sum())
        assert row.shape == (32, 32, 24)
        assert row.spacing == (1.0, 1.0, 1.0)
        assert row.kept_slices == 24
        assert row.modalities == ("flair", "t1")
    unlabelled = report.cases[2]
    assert not unlabelled.has_mask
    assert unlabelled.anomalous is None
    assert unlabelled.lesion_voxels is None
    assert unlabelled.brain_free == int((~cases["c2"].brain.any(axis=(0, 1))).sum())
    rows = report.rows()
    assert len(rows) == 4
    assert rows[-1]["case_id"] == "total"
    assert rows[-1]["anomalous"] == report.cases[0].anomalous + report.cases[1].anomalous
    assert report.totals()["labelled_cases"] == 2
    assert np.isfinite(rows[0]["lesion_voxels"])


def test_inspect_shows_label_values_and_rejects_negative_ones(tmp_path: Path) -> None:
    root = tmp_path / "data"
    synthetic = phantom(seed=0, lesions=2)
    synthetic.write(root / "c0", {"flair": "c0_flair.nii.gz", "t1": "c0_t1.nii.gz", "seg": "c0_seg.nii.gz"})
    seg = root / "c0" / "c0_seg.nii.gz"
    image = nib.load(seg)
    labels = np.asarray(image.dataobj).astype(np.int16)
    labels[labels > 0] = 2
    labels[0, 0, 0] = 4
    nib.save(nib.Nifti1Image(labels, image.affine), seg)
    report = inspect_dataset(index_brats(BratsOptions(), root), PreprocessConfig(skip_first=0, skip_last=0))
    assert [value for value, _ in report.cases[0].labels] == [2, 4]
    assert report.rows()[0]["labels"] == "2,4"
    only_four = inspect_dataset(
        index_brats(BratsOptions(), root), PreprocessConfig(skip_first=0, skip_last=0, lesion_labels=(4,))
    )
    assert only_four.cases[0].lesion_voxels == 1

    labels[1, 1, 1] = -1
    nib.save(nib.Nifti1Image(labels, image.affine), seg)
    with pytest.raises(DataError, match=r"c0_seg\.nii\.gz.*negative label values \(-1\)"):
        inspect_dataset(index_brats(BratsOptions(), root))
