"""Adapters on tiny fake layouts of each kind, detection and resolution errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from wsad_core import PluginHost
from wsad_core.data import load_volume, open_dataset, prepare_cases
from wsad_core.data.adapters import BratsOptions, FolderOptions, MsdBrainOptions
from wsad_core.data.adapters.brats import index_brats
from wsad_core.data.adapters.folder import index_folder
from wsad_core.data.adapters.msd import index_msd_brain
from wsad_core.data.config import PreprocessConfig
from wsad_core.errors import ConfigError, DataError, UnknownPluginError

from .conftest import phantom, save

Layout = Callable[..., Path]
SMALL = PreprocessConfig(skip_first=2, skip_last=2, size=16)


def brats2020(case: str) -> dict[str, str]:
    return {m: f"{case}_{m}.nii.gz" for m in ("flair", "t1", "t1ce", "t2")} | {"seg": f"{case}_seg.nii.gz"}


def brats2023(case: str) -> dict[str, str]:
    names = {"flair": "t2f", "t1": "t1n", "t1ce": "t1c", "t2": "t2w", "seg": "seg"}
    return {m: f"{case}-{suffix}.nii.gz" for m, suffix in names.items()}


ALL = ("flair", "t1", "t1ce", "t2")


def test_brats_2020_naming(write_layout: Layout, host: PluginHost) -> None:
    root = write_layout("b20", ["BraTS20_Training_002", "BraTS20_Training_001"], brats2020, modalities=ALL)
    index = open_dataset(str(root), host)
    assert index.name == "brats"
    assert [c.case_id for c in index.cases] == ["BraTS20_Training_001", "BraTS20_Training_002"]
    assert index.modalities == ALL
    case = index.cases[0]
    assert case.images["t1ce"].path.name == "BraTS20_Training_001_t1ce.nii.gz"
    assert case.images["t1"].path.name == "BraTS20_Training_001_t1.nii.gz"
    assert case.mask is not None
    assert case.mask.path.name == "BraTS20_Training_001_seg.nii.gz"


def test_brats_2023_naming(write_layout: Layout, host: PluginHost) -> None:
    root = write_layout("b23", ["BraTS-GLI-00001-000", "BraTS-GLI-00000-000"], brats2023, modalities=ALL)
    index = open_dataset(str(root), host)
    assert index.name == "brats"
    case = index.case("BraTS-GLI-00000-000")
    assert {m: ref.path.name.split("-")[-1] for m, ref in case.images.items()} == {
        "flair": "t2f.nii.gz",
        "t1": "t1n.nii.gz",
        "t1ce": "t1c.nii.gz",
        "t2": "t2w.nii.gz",
    }
    prepared = prepare_cases(index, ("flair", "t2"), SMALL, None)
    assert [p.modalities for p in prepared] == [("flair", "t2")] * 2


def test_brats_validation_cases_without_seg(write_layout: Layout) -> None:
    def no_seg(case: str) -> dict[str, str]:
        return brats2020(case) | {"seg": ""}

    root = write_layout("val", ["V1", "V2"], no_seg)
    index = index_brats(BratsOptions(), root)
    assert [c.mask for c in index.cases] == [None, None]
    assert index_brats(BratsOptions(labelled_only=True), root).cases == ()


def test_brats_two_files_for_one_modality(write_layout: Layout) -> None:
    root = write_layout("dup", ["C1"], brats2020)
    (root / "C1" / "C1-t2f.nii.gz").write_bytes((root / "C1" / "C1_flair.nii.gz").read_bytes())
    with pytest.raises(DataError, match="two files for flair"):
        index_brats(BratsOptions(), root)


def test_brats_demo_layout(write_layout: Layout, host: PluginHost) -> None:
    def demo_names(case: str) -> dict[str, str]:
        return {"flair": "FLAIR.nii.gz", "t1": "T1.nii.gz", "seg": "GT_W.nii.gz"}

    root = write_layout("b18", ["case_1", "case_0"], demo_names)
    (root / "case_0" / "subject_id.txt").write_text("Case_id: Brats18_X_1\nSubject_id: Brats18_X_1\n")
    index = open_dataset(str(root), host)
    assert index.name == "brats-demo"
    assert [c.case_id for c in index.cases] == ["case_0", "case_1"]
    assert index.modalities == ("flair", "t1")
    assert index.cases[0].meta == {"subject": "Brats18_X_1"}
    assert index.cases[1].meta == {}


def _write_msd(root: Path, n: int = 2) -> list[np.ndarray]:
    stacks = []
    for i in range(n):
        case = phantom(seed=i, modalities=ALL)
        stack = np.stack([case.images[m] for m in ALL], axis=-1).astype(np.int16)
        save(root / "imagesTr" / f"BRATS_{i + 1:03d}.nii.gz", stack, case.affine)
        save(root / "labelsTr" / f"BRATS_{i + 1:03d}.nii.gz", case.mask * 2, case.affine)
        stacks.append(stack)
    (root / "imagesTr" / "._BRATS_001.nii.gz").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    (root / "labelsTr" / "._BRATS_001.nii.gz").write_bytes(b"\x00\x05\x16\x07")
    save(root / "imagesTs" / "BRATS_485.nii.gz", stacks[0])
    modality = {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
    (root / "dataset.json").write_text(json.dumps({"name": "BRATS", "modality": modality}))
    return stacks


def test_msd_brain_4d_channels(tmp_path: Path, host: PluginHost) -> None:
    root = tmp_path / "Task01_BrainTumour"
    stacks = _write_msd(root)
    index = open_dataset(str(root), host)
    assert index.name == "msd-brain"
    assert [c.case_id for c in index.cases] == ["BRATS_001", "BRATS_002"]
    assert index.modalities == ALL
    for channel, modality in enumerate(ALL):
        ref = index.cases[1].images[modality]
        assert ref.channel == channel
        np.testing.assert_array_equal(load_volume(ref).array, stacks[1][..., channel])
    mask = load_volume(index.cases[0].mask, role="mask").array  # type: ignore[arg-type]
    assert set(np.unique(mask)) == {0.0, 1.0}
    with_test = index_msd_brain(MsdBrainOptions(include_test=True), root)
    assert with_test.case("BRATS_485").mask is None


def test_msd_without_dataset_json_uses_documented_order(tmp_path: Path) -> None:
    root = tmp_path / "msd"
    _write_msd(root, n=1)
    (root / "dataset.json").unlink()
    index = index_msd_brain(MsdBrainOptions(), root)
    assert {m: r.channel for m, r in index.cases[0].images.items()} == {"flair": 0, "t1": 1, "t1ce": 2, "t2": 3}


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "generic"
    for i, name in enumerate(["p02", "p01", "p10"]):
        case = phantom(seed=i)
        save(root / "img" / f"{name}_flair.nii.gz", case.images["flair"].astype(np.int16), case.affine)
        save(root / "lbl" / f"{name}_mask.nii.gz", case.mask, case.affine)
    return root


def test_folder_glob_and_case_pattern(tmp_path: Path, host: PluginHost) -> None:
    root = _folder(tmp_path)
    options = {"images": "img/*.nii.gz", "masks": "lbl/*.nii.gz", "case_pattern": r"^(?P<case>p\d+)_", "modality": "t2"}
    index = open_dataset(str(root), host, adapter="folder", options=options)
    assert [c.case_id for c in index.cases] == ["p01", "p02", "p10"]
    assert index.modalities == ("t2",)
    assert index.case("p10").mask.path.name == "p10_mask.nii.gz"  # type: ignore[union-attr]
    no_masks = index_folder(FolderOptions(images="img/*.nii.gz", masks=None), root)
    assert [c.case_id for c in no_masks.cases] == ["p01_flair", "p02_flair", "p10_flair"]
    assert all(c.mask is None for c in no_masks.cases)


def test_folder_errors(tmp_path: Path, host: PluginHost) -> None:
    root = _folder(tmp_path)
    with pytest.raises(DataError, match=r"matches no \.nii/\.nii\.gz file"):
        index_folder(FolderOptions(images="nothing/*.nii.gz"), root)
    with pytest.raises(DataError, match="no mask for case 'p01_flair'"):
        index_folder(FolderOptions(images="img/*.nii.gz", masks="lbl/*.nii.gz"), root)
    (root / "lbl" / "p10_mask.nii.gz").unlink()
    with pytest.raises(DataError, match="no mask for case 'p10'"):
        index_folder(FolderOptions(images="img/*", masks="lbl/*", case_pattern=r"(?P<case>p\d+)"), root)
    with pytest.raises(DataError, match="does not match this image file name"):
        index_folder(FolderOptions(images="img/*", masks=None, case_pattern=r"(?P<case>zz\d+)"), root)
    with pytest.raises(DataError, match="both map to case 'p'"):
        index_folder(FolderOptions(images="img/*", masks=None, case_pattern=r"(?P<case>p)"), root)
    with pytest.raises(ConfigError, match="case_pattern"):
        host.validate_options("dataset", "folder", {"case_pattern": "(no group)"})
    with pytest.raises(ConfigError, match="modality"):
        host.validate_options("dataset", "folder", {"modality": "dwi"})


def test_folder_is_never_detected(tmp_path: Path, host: PluginHost) -> None:
    root = _folder(tmp_path)
    with pytest.raises(DataError, match="no dataset adapter recognises") as info:
        open_dataset(str(root), host)
    assert "brats-demo" in str(info.value)
    assert "--adapter" in str(info.value.hint)


def test_missing_modality_is_a_clear_error(write_layout: Layout, host: PluginHost) -> None:
    root = write_layout("b20", ["A", "B"], brats2020)
    index = open_dataset(str(root), host)
    with pytest.raises(DataError, match=r"has no t2 \(available: flair, t1\)"):
        prepare_cases(index, ("flair", "t2"), SMALL, None)


def test_modality_missing_from_some_cases_names_those_cases(write_layout: Layout, host: PluginHost) -> None:
    root = write_layout("b20", ["A", "B", "C"], brats2020)
    next((root / "B").glob("*_t1.nii.gz")).unlink()
    index = open_dataset(str(root), host)
    with pytest.raises(DataError) as info:
        prepare_cases(index, ("flair", "t1"), SMALL, None)
    message = str(info.value)
    assert "t1 is missing from 1 of 3 cases" in message
    assert "B" in message.split("cases:")[-1]
    assert "has no t1" not in message, "not reported as missing from the whole dataset"


def test_unknown_adapter(tmp_path: Path, host: PluginHost) -> None:
    with pytest.raises(UnknownPluginError, match="no dataset named 'bratz'") as info:
        open_dataset(str(tmp_path), host, adapter="bratz")
    assert "brats" in info.value.hint


def test_ambiguous_detection(write_layout: Layout, host: PluginHost) -> None:
    def both(case: str) -> dict[str, str]:
        return {
            "flair": "FLAIR.nii.gz",
            "t1": f"{case}_flair.nii.gz",
            "t1ce": f"{case}_t1.nii.gz",
            "seg": "GT_W.nii.gz",
        }

    root = write_layout("both", ["c"], both, modalities=("flair", "t1", "t1ce"))
    with pytest.raises(DataError, match="several dataset adapters recognise this folder: brats, brats-demo"):
        open_dataset(str(root), host)
    assert open_dataset(str(root), host, adapter="brats").name == "brats"


def test_missing_path_and_empty_dataset(tmp_path: Path, host: PluginHost) -> None:
    with pytest.raises(DataError, match="does not exist") as info:
        open_dataset(str(tmp_path / "absent"), host)
    assert "demo" in info.value.hint
    with pytest.raises(DataError, match="does not exist"):
        open_dataset(str(tmp_path / "absent"), host, adapter="brats")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="found no cases"):
        open_dataset(str(tmp_path / "empty"), host, adapter="brats")


def test_case_ids_do_not_follow_filesystem_order(write_layout: Layout) -> None:
    root = write_layout("order", ["c", "a", "b"], brats2020)
    assert [c.case_id for c in index_brats(BratsOptions(), root).cases] == ["a", "b", "c"]


def test_unreadable_nifti_is_reported_at_preparation(write_layout: Layout, host: PluginHost) -> None:
    root = write_layout("bad", ["A", "B"], brats2020)
    (root / "B" / "B_flair.nii.gz").write_bytes(b"garbage")
    index = open_dataset(str(root), host)
    with pytest.raises(DataError, match=r"B_flair\.nii\.gz: corrupt or truncated"):
        prepare_cases(index, ("flair",), SMALL, None)
    assert nib is not None
