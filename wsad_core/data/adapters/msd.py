"""Adapter ``msd-brain``: Medical Segmentation Decathlon Task01_BrainTumour.

::

    root/dataset.json
    root/imagesTr/BRATS_001.nii.gz   4-D: channels FLAIR=0, T1w=1, t1gd=2, T2w=3
    root/labelsTr/BRATS_001.nii.gz   0 background, 1 oedema, 2 non-enhancing, 3 enhancing
    root/imagesTs/BRATS_485.nii.gz   (no labels)

Channel names come from ``dataset.json`` when it lists them (``t1gd`` becomes ``t1ce``),
else the Decathlon's documented order. The macOS ``._*`` files shipped in the archive are
ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from wsad_core.data.adapters._common import nifti_files, require_folder, safe_detect, strip_nifti
from wsad_core.data.index import CaseRecord, DatasetIndex, VolumeRef
from wsad_core.errors import DataError
from wsad_core.specs import DatasetSpec

__all__ = ["NAME", "MsdBrainOptions", "index_msd_brain", "spec"]

NAME = "msd-brain"
_DEFAULT_CHANNELS = {"flair": 0, "t1": 1, "t1ce": 2, "t2": 3}
#: Channel names used in dataset.json (lower case) → canonical modality.
_ALIASES = {"flair": "flair", "t1w": "t1", "t1": "t1", "t1gd": "t1ce", "t1ce": "t1ce", "t2w": "t2", "t2": "t2"}


class MsdBrainOptions(BaseModel):
    """Options of the ``msd-brain`` adapter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include_test: bool = Field(False, description="Also index imagesTs/ (cases without labels, mask=None).")


def _channels(root: Path) -> dict[str, int]:
    """Modality → channel index, from dataset.json's ``modality`` entry when present."""
    manifest = root / "dataset.json"
    if not manifest.is_file():
        return dict(_DEFAULT_CHANNELS)
    try:
        listed = json.loads(manifest.read_text()).get("modality", {})
    except (OSError, ValueError, AttributeError) as error:
        raise DataError(
            f"{manifest}: unreadable dataset.json ({error})", hint="restore the file from the archive"
        ) from None
    channels = {}
    for key, name in dict(listed).items():
        modality = _ALIASES.get(str(name).strip().lower())
        if modality is not None and str(key).isdigit():
            channels[modality] = int(key)
    return channels or dict(_DEFAULT_CHANNELS)


def index_msd_brain(options: MsdBrainOptions, root: Path) -> DatasetIndex:
    """Index imagesTr (and optionally imagesTs) of Task01_BrainTumour.

    Args:
        options: adapter options.
        root: the task folder (holding ``imagesTr/``).

    Returns:
        The index; case ids are the file names without extension (``BRATS_001``).

    Raises:
        DataError: ``imagesTr/`` is missing.
    """
    require_folder(root, NAME)
    if not (root / "imagesTr").is_dir():
        raise DataError(f"{root}: no imagesTr/ folder", hint="point to the Task01_BrainTumour folder")
    channels = _channels(root)
    folders = [("imagesTr", "labelsTr")] + ([("imagesTs", "")] if options.include_test else [])
    cases = []
    for image_folder, label_folder in folders:
        if not (root / image_folder).is_dir():
            continue
        label_dir = root / label_folder if label_folder else None
        labels = {p.name: p for p in nifti_files(label_dir)} if label_dir is not None and label_dir.is_dir() else {}
        for path in nifti_files(root / image_folder):
            images = {modality: VolumeRef(path, channel) for modality, channel in channels.items()}
            mask = VolumeRef(labels[path.name]) if path.name in labels else None
            cases.append(CaseRecord(strip_nifti(path.name), images, mask, {"split": image_folder}))
    return DatasetIndex(
        name=NAME, root=root, cases=tuple(cases), description="MSD Task01_BrainTumour (4-D multi-channel NIfTI)"
    )


def _detect(root: Path) -> bool:
    """``imagesTr/`` plus a dataset.json naming FLAIR, or ``BRATS_*`` files."""
    if not (root / "imagesTr").is_dir():
        return False
    manifest = root / "dataset.json"
    if manifest.is_file():
        try:
            listed = json.loads(manifest.read_text()).get("modality", {})
        except (ValueError, AttributeError):
            return False
        return any(str(name).strip().lower() == "flair" for name in dict(listed).values())
    return any(p.name.upper().startswith("BRATS_") for p in nifti_files(root / "imagesTr"))


spec = DatasetSpec(
    name=NAME,
    summary="Medical Segmentation Decathlon Task01_BrainTumour: 4-D imagesTr (FLAIR, T1, T1gd, T2) + labelsTr.",
    options=MsdBrainOptions,
    factory=index_msd_brain,
    detect=safe_detect(_detect),
    citation="Antonelli et al., Nat. Commun. 2022; Simpson et al., arXiv:1902.09063",
    license="CC-BY-SA 4.0",
)
