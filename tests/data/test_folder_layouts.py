r"""The ``folder`` adapter reads the layouts users keep, from options alone.

Each layout is built in ``tmp_path`` from symbolic links to the real BraTS demo cases (skipped when those are absent)
and must index to the same cases, modality files and masks as the ``brats-demo`` adapter on the originals. The error
tests use empty placeholder files: indexing never opens a volume.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest

from wsad_core import PluginHost
from wsad_core.data import open_dataset
from wsad_core.data.adapters import FolderOptions
from wsad_core.data.adapters.folder import Modality, index_folder
from wsad_core.data.index import MODALITIES, DatasetIndex
from wsad_core.errors import ConfigError, DataError
from wsad_core.overrides import apply_overrides

#: brats-demo file name → modality (or "mask") in the reference index.
_DEMO_FILES = {"FLAIR.nii.gz": "flair", "T1.nii.gz": "t1", "GT_W.nii.gz": "mask"}
#: Per layout, role → the path of that role's file of ``case``.
Naming = Callable[[str], str]
_FIXED: dict[str, Naming] = {
    "flair": lambda case: f"{case}/Flair_preprocessed.nii.gz",
    "t1": lambda case: f"{case}/T1_preprocessed.nii.gz",
    "mask": lambda case: f"{case}/seg.nii.gz",
}
_OFFICIAL: dict[str, Naming] = {
    "flair": lambda case: f"{case}/{case}_flair.nii.gz",
    "t1": lambda case: f"{case}/{case}_t1.nii.gz",
    "mask": lambda case: f"{case}/{case}_seg.nii.gz",
}
_NNUNET: dict[str, Naming] = {
    "flair": lambda case: f"imagesTr/{case}_0000.nii.gz",
    "t1": lambda case: f"imagesTr/{case}_0001.nii.gz",
    "mask": lambda case: f"labelsTr/{case}.nii.gz",
}

LAYOUTS: list[tuple[str, dict[str, Naming], list[str], dict[str, Any]]] = [
    (
        "fixed-names",
        _FIXED,
        [
            "dataset.images.flair=*/Flair*.nii.gz",
            "dataset.images.t1=*/T1*.nii.gz",
            "dataset.masks=*/seg.nii.gz",
            "dataset.case_id=folder",
        ],
        {
            "images": {"flair": "*/Flair*.nii.gz", "t1": "*/T1*.nii.gz"},
            "masks": "*/seg.nii.gz",
            "case_id": "folder",
        },
    ),
    (
        "fixed-names-by-path",
        _FIXED,
        [
            "dataset.images.flair=*/Flair*.nii.gz",
            "dataset.images.t1=*/T1*.nii.gz",
            "dataset.masks=*/seg.nii.gz",
            "dataset.case_id=path",
            "dataset.case_pattern=^(?P<case>[^/]+)/",
        ],
        {
            "images": {"flair": "*/Flair*.nii.gz", "t1": "*/T1*.nii.gz"},
            "masks": "*/seg.nii.gz",
            "case_id": "path",
            "case_pattern": "^(?P<case>[^/]+)/",
        },
    ),
    (
        "brats-official",
        _OFFICIAL,
        [
            "dataset.images.flair=*/*_flair.nii.gz",
            "dataset.images.t1=*/*_t1.nii.gz",
            "dataset.masks=*/*_seg.nii.gz",
            "dataset.case_id=folder",
        ],
        {
            "images": {"flair": "*/*_flair.nii.gz", "t1": "*/*_t1.nii.gz"},
            "masks": "*/*_seg.nii.gz",
            "case_id": "folder",
        },
    ),
    (
        "brats-official-by-file",
        _OFFICIAL,
        [
            "dataset.images.flair=*/*_flair.nii.gz",
            "dataset.images.t1=*/*_t1.nii.gz",
            "dataset.masks=*/*_seg.nii.gz",
            "dataset.case_pattern=^(?P<case>.+)_(flair|t1|seg)$",
        ],
        {
            "images": {"flair": "*/*_flair.nii.gz", "t1": "*/*_t1.nii.gz"},
            "masks": "*/*_seg.nii.gz",
            "case_pattern": "^(?P<case>.+)_(flair|t1|seg)$",
        },
    ),
    (
        "nnunet",
        _NNUNET,
        [
            "dataset.images.flair=imagesTr/*_0000.nii.gz",
            "dataset.images.t1=imagesTr/*_0001.nii.gz",
            "dataset.masks=labelsTr/*.nii.gz",
            r"dataset.case_pattern=^(?P<case>.+?)(_\d{4})?$",
        ],
        {
            "images": {"flair": "imagesTr/*_0000.nii.gz", "t1": "imagesTr/*_0001.nii.gz"},
            "masks": "labelsTr/*.nii.gz",
            "case_pattern": r"^(?P<case>.+?)(_\d{4})?$",
        },
    ),
]


def _link_layout(real_root: Path, target: Path, naming: dict[str, Naming]) -> Path:
    for case in sorted(p.name for p in real_root.iterdir() if p.is_dir()):
        for file, role in _DEMO_FILES.items():
            link = target / naming[role](case)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(real_root / case / file)
    return target


def _resolved(index: DatasetIndex) -> dict[str, dict[str, Path | None]]:
    return {
        case.case_id: {
            **{m: ref.path.resolve() for m, ref in case.images.items()},
            "mask": case.mask.path.resolve() if case.mask else None,
        }
        for case in index.cases
    }


def _placeholders(root: Path, names: list[str]) -> Path:
    """Empty files: enough for indexing, which never opens a volume."""
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()
    return root


def test_modality_names_are_the_canonical_ones() -> None:
    assert get_args(Modality) == MODALITIES


@pytest.mark.parametrize(("name", "naming", "cli", "options"), LAYOUTS, ids=[layout[0] for layout in LAYOUTS])
def test_layouts_index_like_the_original(
    real_root: Path,
    tmp_path: Path,
    host: PluginHost,
    name: str,
    naming: dict[str, Naming],
    cli: list[str],
    options: dict[str, Any],
) -> None:
    reference = open_dataset(str(real_root), host, adapter="brats-demo")
    assert len(reference.cases) >= 2
    assert reference.modalities == ("flair", "t1")
    root = _link_layout(real_root, tmp_path / name, naming)
    from_cli = apply_overrides({}, cli)["data"]["adapter_options"]
    assert from_cli == options
    index = open_dataset(str(root), host, adapter="folder", options=from_cli)
    assert index.modalities == ("flair", "t1")
    assert _resolved(index) == _resolved(reference)
    assert all(case.brain is None for case in index.cases)


def test_brain_masks(real_root: Path, tmp_path: Path, host: PluginHost) -> None:
    root = _link_layout(real_root, tmp_path / "cases", _FIXED)
    cases = sorted(p.name for p in root.iterdir())
    for case in cases:
        # Any file serves as a brain mask here: indexing does not open it.
        (root / case / "brainmask.nii.gz").symlink_to(real_root / case / "GT_W.nii.gz")
    options = apply_overrides(
        {},
        [
            "dataset.images.flair=*/Flair*.nii.gz",
            "dataset.masks=*/seg.nii.gz",
            "dataset.brain_masks=*/brainmask.nii.gz",
            "dataset.case_id=folder",
        ],
    )["data"]["adapter_options"]
    index = open_dataset(str(root), host, adapter="folder", options=options)
    assert [c.case_id for c in index.cases] == cases
    for case in index.cases:
        assert case.brain is not None
        assert case.brain.path == root / case.case_id / "brainmask.nii.gz"
        assert case.brain.path.resolve() == (real_root / case.case_id / "GT_W.nii.gz").resolve()
    (root / cases[1] / "brainmask.nii.gz").unlink()
    with pytest.raises(DataError, match=f"no brain mask for case '{cases[1]}'") as info:
        open_dataset(str(root), host, adapter="folder", options=options)
    assert "brain_masks" in info.value.hint


def test_brain_mask_without_an_image(tmp_path: Path) -> None:
    root = _placeholders(tmp_path, ["a/flair.nii.gz", "a/brain.nii.gz", "b/flair.nii.gz", "b/brain.nii.gz"])
    _placeholders(root, ["c/brain.nii.gz"])
    options = FolderOptions(
        images={"flair": "*/flair.nii.gz"}, masks=None, brain_masks="*/brain.nii.gz", case_id="folder"
    )
    with pytest.raises(DataError, match=r"c/brain\.nii\.gz: brain mask without an image for case 'c'"):
        index_folder(options, root)


def test_same_file_name_in_every_folder_hints_case_id_folder(tmp_path: Path) -> None:
    root = _placeholders(tmp_path, [f"case_{i}/{n}.nii.gz" for i in range(3) for n in ("Flair_preprocessed", "seg")])
    options = FolderOptions(images="*/Flair_preprocessed.nii.gz", masks="*/seg.nii.gz")
    with pytest.raises(DataError, match="both map to case 'Flair_preprocessed'") as info:
        index_folder(options, root)
    assert "case_0/Flair_preprocessed.nii.gz" in info.value.message
    assert "-o dataset.case_id=folder" in info.value.hint
    fixed = index_folder(options.model_copy(update={"case_id": "folder"}), root)
    assert [c.case_id for c in fixed.cases] == ["case_0", "case_1", "case_2"]
    assert fixed.modalities == ("flair",)


def test_a_case_missing_a_modality_names_it(tmp_path: Path) -> None:
    names = [f"case_{i}/{n}.nii.gz" for i in range(3) for n in ("Flair", "T1c", "seg")]
    root = _placeholders(tmp_path, [n for n in names if n != "case_1/T1c.nii.gz"])
    options = FolderOptions(
        images={"flair": "*/Flair.nii.gz", "t1ce": "*/T1c.nii.gz"}, masks="*/seg.nii.gz", case_id="folder"
    )
    with pytest.raises(DataError, match=r"case_1/Flair.nii.gz: case 'case_1' has no t1ce image \(1 of 3") as info:
        index_folder(options, root)
    assert "'images.t1ce'" in info.value.hint
    (root / "case_1" / "seg.nii.gz").unlink()
    (root / "case_1" / "Flair.nii.gz").unlink()
    index = index_folder(options, root)
    assert [c.case_id for c in index.cases] == ["case_0", "case_2"]
    assert index.case("case_2").images["t1ce"].path == root / "case_2" / "T1c.nii.gz"


def test_folder_errors_of_the_new_options(tmp_path: Path, host: PluginHost) -> None:
    root = _placeholders(tmp_path, ["flat_flair.nii.gz", "case/a.nii.gz", "case/b.nii.gz"])
    with pytest.raises(DataError, match="lies directly in the dataset folder"):
        index_folder(FolderOptions(images="*.nii.gz", masks=None, case_id="folder"), root)
    with pytest.raises(DataError, match="both map to case 'case'") as info:
        index_folder(FolderOptions(images="case/*.nii.gz", masks=None, case_id="folder"), root)
    assert "one file per case" in info.value.hint
    with pytest.raises(DataError, match=r"does not match this image path \('case/a'\)"):
        index_folder(
            FolderOptions(images="case/*.nii.gz", masks=None, case_id="path", case_pattern="^(?P<case>x)"), root
        )
    with pytest.raises(ConfigError, match="drop 'modality'"):
        host.validate_options("dataset", "folder", {"images": {"flair": "*/f.nii.gz"}, "modality": "flair"})
    with pytest.raises(ConfigError, match="images"):
        host.validate_options("dataset", "folder", {"images": {"dwi": "*/dwi.nii.gz"}})
    with pytest.raises(ConfigError, match="images"):
        host.validate_options("dataset", "folder", {"images": {}})
    with pytest.raises(ConfigError, match="relative to the dataset folder"):
        host.validate_options("dataset", "folder", {"images": {"t1": "/abs/*.nii.gz"}})
    with pytest.raises(ConfigError, match="brain_masks"):
        host.validate_options("dataset", "folder", {"brain_masks": ""})
    with pytest.raises(ConfigError, match="case_id"):
        host.validate_options("dataset", "folder", {"case_id": "parent"})


def test_nnunet_ids_with_four_digits(tmp_path: Path) -> None:
    names = [f"imagesTr/case_{i:04d}_{c:04d}.nii.gz" for i in (1, 2) for c in (0, 1)]
    root = _placeholders(tmp_path, [*names, "labelsTr/case_0001.nii.gz", "labelsTr/case_0002.nii.gz"])
    images = {"flair": "imagesTr/*_0000.nii.gz", "t1": "imagesTr/*_0001.nii.gz"}
    with pytest.raises(DataError, match="both map to case 'case'"):
        index_folder(FolderOptions(images=images, masks="labelsTr/*", case_pattern=r"^(?P<case>.+?)(_\d{4})?$"), root)
    index = index_folder(
        FolderOptions(images=images, masks="labelsTr/*", case_pattern=r"^(?P<case>.+?_\d+?)(_\d{4})?$"), root
    )
    assert [c.case_id for c in index.cases] == ["case_0001", "case_0002"]
    assert index.case("case_0002").images["t1"].path.name == "case_0002_0001.nii.gz"
    assert index.case("case_0002").mask.path.name == "case_0002.nii.gz"  # type: ignore[union-attr]
