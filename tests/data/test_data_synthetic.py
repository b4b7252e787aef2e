"""The synthetic generator and the embedded demo dataset: reproducible, realistic contrasts, exact masks."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from wsad_core import PluginHost
from wsad_core.data import DatasetIndex, inspect_dataset, make_synthetic_case, open_dataset
from wsad_core.data._anatomy import mni_tissues
from wsad_core.data._demo import DEMO_MANIFEST, ensure_demo_dataset
from wsad_core.data.adapters.demo import DemoOptions, index_demo, spec
from wsad_core.data.synthetic import render_case
from wsad_core.errors import DataError

from .conftest import DataPlugin


def _read(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    cache = tmp_path_factory.mktemp("wsad-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WSAD_CACHE", str(cache))
        host = PluginHost(entry_points=False, disabled=(), strict=True)
        host.register(DataPlugin(), name="data-adapters")
        return open_dataset("demo", host, options={"cases": 3})


def test_phantom_is_reproducible() -> None:
    a, b = make_synthetic_case(seed=5, lesions=2), make_synthetic_case(seed=5, lesions=2)
    for modality in ("flair", "t1"):
        np.testing.assert_array_equal(a.images[modality], b.images[modality])
    np.testing.assert_array_equal(a.mask, b.mask)
    c = make_synthetic_case(seed=6, lesions=2)
    assert not np.array_equal(a.images["flair"], c.images["flair"])
    assert not np.array_equal(a.mask, c.mask)


def test_phantom_masks_inside_brain_and_healthy_subjects() -> None:
    case = make_synthetic_case(seed=1, lesions=3, modalities=("flair", "t1", "t1ce", "t2"))
    assert case.mask.any()
    assert not (case.mask.astype(bool) & ~case.brain).any()
    assert case.lesion_count == 3
    for image in case.images.values():
        assert (image[case.brain] >= 1).all()
        assert not image[~case.brain].any()
    healthy = make_synthetic_case(seed=1, lesions=0)
    assert healthy.lesion_count == 0
    assert not healthy.mask.any()


def test_demo_dataset_index(demo: DatasetIndex) -> None:
    index = demo
    assert index.name == "demo"
    assert index.synthetic
    assert "not patient data" in index.description
    assert "MNI152" in index.description
    assert [c.case_id for c in index.cases] == ["case_000", "case_001", "case_002"]
    assert index.modalities == ("flair", "t1")
    assert spec.detect(index.root)
    assert index.root.parent.name == "demo"


def test_demo_is_generated_once(demo: DatasetIndex) -> None:
    index = demo
    stamp = (index.root / "case_000" / "flair.nii.gz").stat().st_mtime_ns
    again = index_demo(DemoOptions(cases=3), index.root)
    assert (index.root / "case_000" / "flair.nii.gz").stat().st_mtime_ns == stamp
    assert again.cases == index.cases


def test_demo_same_seed_identical_other_seed_differs(demo: DatasetIndex) -> None:
    index = demo
    files = index.cases[1]
    again = render_case(mni_tissues(2), _subject_rng(0, 1), lesions=_lesion_count(0, 1))
    np.testing.assert_array_equal(_read(files.images["flair"].path), again.images["flair"])
    np.testing.assert_array_equal(_read(files.images["t1"].path), again.images["t1"])
    np.testing.assert_array_equal(_read(files.mask.path), again.mask)  # type: ignore[union-attr]
    other = render_case(mni_tissues(2), _subject_rng(1, 1), lesions=_lesion_count(1, 1))
    assert not np.array_equal(other.mask, again.mask)


def _subject_rng(seed: int, index: int) -> np.random.Generator:
    rng = np.random.default_rng([seed, index])
    rng.integers(1, 4)
    return rng


def _lesion_count(seed: int, index: int) -> int:
    return int(np.random.default_rng([seed, index]).integers(1, 4))


def test_demo_masks_inside_brain_and_lesions_present(demo: DatasetIndex) -> None:
    index = demo
    for case in index.cases:
        flair = _read(case.images["flair"].path)
        t1 = _read(case.images["t1"].path)
        mask = _read(case.mask.path).astype(bool)  # type: ignore[union-attr]
        brain = flair > 0
        assert mask.sum() > 500
        assert not (mask & ~brain).any()
        np.testing.assert_array_equal(brain, t1 > 0)
        assert flair.shape == (99, 117, 95)
        healthy = brain & ~mask
        assert flair[mask].mean() > 1.3 * flair[healthy].mean()
        assert t1[mask].mean() < 0.85 * t1[healthy].mean()
    totals = inspect_dataset(index).totals()
    # Paper defaults (k = 15..79 here, > 200 px anomalous) leave both classes.
    assert totals["anomalous"] >= 10
    assert totals["healthy"] >= 60


def test_demo_tissue_contrasts(demo: DatasetIndex) -> None:
    index = demo
    tissues = mni_tissues(2)
    flair = _read(index.cases[0].images["flair"].path).astype(float)
    t1 = _read(index.cases[0].images["t1"].path).astype(float)
    mask = _read(index.cases[0].mask.path).astype(bool)  # type: ignore[union-attr]
    gm = (tissues.gm > 0.8) & ~mask & (flair > 0)
    wm = (tissues.wm > 0.9) & ~mask & (flair > 0)
    csf = (tissues.csf > 0.8) & ~mask & (flair > 0)
    assert flair[gm].mean() > 1.1 * flair[wm].mean()
    assert flair[csf].mean() < 0.6 * flair[wm].mean()
    assert t1[wm].mean() > 1.3 * t1[gm].mean()


def test_demo_folder_guards(tmp_path: Path, demo: DatasetIndex) -> None:
    index = demo
    with pytest.raises(DataError, match="generated with version=1, resolution=2, seed=0"):
        ensure_demo_dataset(index.root, cases=3, resolution=2, seed=7)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty and holds no demo dataset"):
        ensure_demo_dataset(tmp_path / "other", cases=2)
    # A leftover of a killed generator is neither indexed nor in the way.
    (index.root / ".tmp-case_000-1-dead").mkdir()
    assert [c.case_id for c in index_demo(DemoOptions(cases=3), index.root).cases] == [
        "case_000",
        "case_001",
        "case_002",
    ]
    assert (index.root / DEMO_MANIFEST).is_file()
