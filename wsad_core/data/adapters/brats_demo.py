"""Adapter ``brats-demo``: BraTS 2018 demo folders (``FLAIR.nii.gz``, ``T1.nii.gz``, ``GT_W.nii.gz``).

The layout of the public deepvoxnet2 BraTS 2018 demo (shared/docs/evaluation.md §4)::

    root/case_0/FLAIR.nii.gz  T1.nii.gz  [T1CE.nii.gz]  [T2.nii.gz]  GT_W.nii.gz  subject_id.txt

``GT_W`` is the whole-tumour mask; ``subject_id.txt`` gives the BraTS subject, kept as
``meta["subject"]``. File names are matched case-insensitively (``T1ce``, ``T1CE``).
"""

from __future__ import annotations

from pathlib import Path

from wsad_core.data.adapters._common import (
    NoOptions,
    case_folders,
    nifti_files,
    require_folder,
    safe_detect,
    strip_nifti,
)
from wsad_core.data.index import CaseRecord, DatasetIndex, VolumeRef
from wsad_core.specs import DatasetSpec

__all__ = ["NAME", "index_brats_demo", "spec"]

NAME = "brats-demo"
#: Modality → accepted file stems (lower case).
_STEMS = {"flair": ("flair",), "t1": ("t1",), "t1ce": ("t1ce", "t1c", "t1gd"), "t2": ("t2",)}
_MASK_STEMS = ("gt_w",)


def _by_stem(folder: Path) -> dict[str, Path]:
    return {strip_nifti(p.name).lower(): p for p in nifti_files(folder)}


def _subject(folder: Path) -> dict[str, str]:
    path = folder / "subject_id.txt"
    if not path.is_file():
        return {}
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip().lower() == "subject_id" and value.strip():
            return {"subject": value.strip()}
    return {"subject": lines[0]} if lines else {}


def _case(folder: Path) -> CaseRecord | None:
    files = _by_stem(folder)
    images = {}
    for modality, stems in _STEMS.items():
        found = next((files[stem] for stem in stems if stem in files), None)
        if found is not None:
            images[modality] = VolumeRef(found)
    if not images:
        return None
    mask = next((VolumeRef(files[s]) for s in _MASK_STEMS if s in files), None)
    return CaseRecord(case_id=folder.name, images=images, mask=mask, meta=_subject(folder))


def index_brats_demo(options: NoOptions, root: Path) -> DatasetIndex:
    """Index every case folder of ``root`` holding at least one known modality.

    Args:
        options: none.
        root: the folder holding ``case_*`` folders.

    Returns:
        The index, sorted by folder name.
    """
    del options
    require_folder(root, NAME)
    cases = [case for folder in case_folders(root) if (case := _case(folder)) is not None]
    return DatasetIndex(
        name=NAME,
        root=root,
        cases=tuple(cases),
        description="BraTS 2018 demo layout (FLAIR/T1/GT_W per case folder)",
    )


def _detect(root: Path) -> bool:
    """A case folder with ``FLAIR`` or ``T1`` and a ``GT_W`` mask."""
    for folder in case_folders(root):
        stems = set(_by_stem(folder))
        if stems & {"flair", "t1"} and stems & set(_MASK_STEMS):
            return True
    return False


spec = DatasetSpec(
    name=NAME,
    summary="BraTS 2018 demo folders: case/FLAIR.nii.gz, T1.nii.gz, GT_W.nii.gz (whole tumour).",
    options=NoOptions,
    factory=index_brats_demo,
    detect=safe_detect(_detect),
    citation="Menze et al., IEEE TMI 2015; Bakas et al., Sci. Data 2017; Bakas et al., arXiv:1811.02629",
    license="BraTS data terms (research use)",
)
