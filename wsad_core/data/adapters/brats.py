"""Adapter ``brats``: the official BraTS 2020/2021 and 2023 releases.

One folder per case, files named after the case with a modality suffix::

    2020/2021: root/<case>/<case>_flair.nii.gz  _t1  _t1ce  _t2  _seg
    2023:      root/<case>/<case>-t2f.nii.gz    -t1n -t1c  -t2w -seg

2023's ``t2f`` is FLAIR, ``t1n`` native T1, ``t1c`` contrast-enhanced T1, ``t2w`` T2.
Suffixes are matched case-insensitively, ``.nii`` and ``.nii.gz`` alike; BraTS 2020's one
oddly named mask (``..._Segm.nii``) is recognised too. Cases without a segmentation
(validation releases) get ``mask=None``.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from wsad_core.data.adapters._common import case_folders, nifti_files, require_folder, safe_detect
from wsad_core.data.index import CaseRecord, DatasetIndex, VolumeRef
from wsad_core.errors import DataError
from wsad_core.specs import DatasetSpec

__all__ = ["NAME", "BratsOptions", "index_brats", "spec"]

NAME = "brats"
_FILE = re.compile(r"^(?P<prefix>.+)[_-](?P<suffix>[a-z0-9]+)\.nii(?:\.gz)?$", re.IGNORECASE)
#: File-name suffix → modality (``"mask"`` for the segmentation).
_SUFFIXES = {
    "flair": "flair",
    "t2f": "flair",
    "t1": "t1",
    "t1n": "t1",
    "t1ce": "t1ce",
    "t1c": "t1ce",
    "t2": "t2",
    "t2w": "t2",
    "seg": "mask",
    "segm": "mask",
}


class BratsOptions(BaseModel):
    """Options of the ``brats`` adapter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labelled_only: bool = Field(False, description="Skip cases without a segmentation file (e.g. validation releases).")


def _roles(folder: Path) -> dict[str, Path]:
    """Modality (or ``"mask"``) → file, for the files of one case folder."""
    found: dict[str, Path] = {}
    for path in nifti_files(folder):
        match = _FILE.match(path.name)
        role = _SUFFIXES.get(match.group("suffix").lower()) if match else None
        if role is None:
            continue
        if role in found:
            raise DataError(
                f"{folder}: two files for {role}: {found[role].name} and {path.name}",
                hint="keep one file per modality in each case folder",
            )
        found[role] = path
    return found


def index_brats(options: BratsOptions, root: Path) -> DatasetIndex:
    """Index the case folders of an official BraTS release.

    Args:
        options: adapter options.
        root: the folder holding one folder per case.

    Returns:
        The index, sorted by case folder name.

    Raises:
        DataError: a case folder holds two files for one modality.
    """
    require_folder(root, NAME)
    cases = []
    for folder in case_folders(root):
        roles = _roles(folder)
        mask = roles.pop("mask", None)
        if not roles or (options.labelled_only and mask is None):
            continue
        images = {modality: VolumeRef(path) for modality, path in roles.items()}
        cases.append(CaseRecord(folder.name, images, VolumeRef(mask) if mask else None))
    return DatasetIndex(
        name=NAME, root=root, cases=tuple(cases), description="BraTS 2020/2021/2023 release (one folder per case)"
    )


def _detect(root: Path) -> bool:
    """A case folder with one FLAIR file (``_flair``/``-t2f``) and another known file."""
    for folder in case_folders(root):
        try:
            roles = _roles(folder)
        except DataError:
            continue
        if "flair" in roles and len(roles) >= 2:
            return True
    return False


spec = DatasetSpec(
    name=NAME,
    summary="Official BraTS 2020/2021 (<case>_flair, _t1, _t1ce, _t2, _seg) and 2023 (-t2f, -t1n, -t1c, -t2w, -seg).",
    options=BratsOptions,
    factory=index_brats,
    detect=safe_detect(_detect),
    citation="Menze et al., IEEE TMI 2015; Bakas et al., Sci. Data 2017; Baid et al., arXiv:2107.02314",
    license="BraTS data terms (research use)",
)
