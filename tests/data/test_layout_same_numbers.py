"""Issue 16's promise end to end: data laid out and normalised as labs keep it give the numbers of the original.

The copy has one folder per case with fixed file names, FLAIR z-scored (a constant negative background),
labels remapped to 0-4 (the lesion split into labels 1, 2 and 4) and, in one variant, a brain-mask file.
`wsad data inspect` and `wsad run` read it with options only and must report what they report on the original.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from wsad_core.cli import main

CASES = ("case_0", "case_1", "case_2", "case_3", "case_4")
RUN = ("run", "--generator", "zscore", "-o", "data.preprocess.size=64", "--overlays", "0", "--no-maps", "-q")
FOLDER = (
    "--adapter", "folder", "-o", "dataset.images.flair=*/Flair_preprocessed.nii.gz",
    "-o", "dataset.masks=*/seg.nii.gz", "-o", "dataset.case_id=folder",
)  # fmt: skip


def _save(path: Path, array: np.ndarray, like: nib.Nifti1Image, dtype: type = np.float32) -> None:
    nib.save(nib.Nifti1Image(array.astype(dtype), like.affine, like.header), path)


@pytest.fixture(scope="module")
def lab_layout(real_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lab")
    for case in CASES:
        folder = root / case
        folder.mkdir()
        image = nib.load(real_root / case / "FLAIR.nii.gz")
        flair = np.asarray(image.dataobj, dtype=np.float32)
        brain = flair != 0
        _save(folder / "Flair_preprocessed.nii.gz", (flair - flair[brain].mean()) / flair[brain].std(), image)
        _save(folder / "brainmask.nii.gz", brain, image, np.uint8)
        lesion = np.asarray(nib.load(real_root / case / "GT_W.nii.gz").dataobj) > 0
        labels = np.zeros(lesion.shape, np.uint8)
        labels[lesion] = np.array([1, 2, 4], np.uint8)[np.arange(int(lesion.sum())) % 3]  # a multi-class map
        _save(folder / "seg.nii.gz", labels, image, np.uint8)
    return root


def _summary(run_dir: Path) -> dict[tuple[str, str, str, str], float]:
    rows = json.loads((run_dir / "summary.json").read_text())["rows"]
    return {(r["target"], r["protocol"], r["threshold_rule"], r["metric"]): r["mean"] for r in rows}


def _inspect(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(["data", "inspect", *args, "--json"]) == 0
    cases = json.loads(capsys.readouterr().out)["cases"]
    keys = ("case_id", "shape", "kept_slices", "anomalous", "healthy", "ambiguous", "brain_free", "lesion_voxels")
    return [
        {k: c[k] for k in keys} | {"brain": round(float(c["brain_pct"]), 1)} for c in cases if c["case_id"] != "total"
    ]


@pytest.mark.parametrize("brain_file", [False, True], ids=["estimated-brain", "brain-mask-file"])
def test_a_lab_layout_gives_the_numbers_of_the_original(
    real_root: Path, lab_layout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], brain_file: bool
) -> None:
    options = (*FOLDER, "-o", "dataset.brain_masks=*/brainmask.nii.gz") if brain_file else FOLDER
    original = [c for c in _inspect(capsys, str(real_root)) if c["case_id"] in CASES]
    assert _inspect(capsys, str(lab_layout), *options) == original
    assert main([*RUN, "--data", str(real_root), "-o", "data.max_cases=5", "--out", str(tmp_path / "a")]) == 0
    assert main([*RUN, "--data", str(lab_layout), *options, "--out", str(tmp_path / "b")]) == 0
    a, b = _summary(tmp_path / "a"), _summary(tmp_path / "b")
    assert a.keys() == b.keys()
    assert a[("test", "per-slice", "fixed:0.5", "dice")] > 0.05, "a real result, not an empty one"
    for key in a:
        assert b[key] == pytest.approx(a[key], abs=1e-3), key
