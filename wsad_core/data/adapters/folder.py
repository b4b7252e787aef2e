r"""Adapter ``folder``: any folder of images and masks matched by glob patterns.

Images and masks are paired by a case id taken from each file name: the name without
``.nii``/``.nii.gz`` by default, or the named group ``case`` of ``case_pattern``::

    wsad run data/ --adapter folder \
        -o images='img/*_flair.nii.gz' -o masks='lbl/*_mask.nii.gz' -o case_pattern='^(?P<case>\w+?)_'

Never auto-detected: a generic layout would match almost anything.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wsad_core.data.adapters._common import is_nifti, require_folder, strip_nifti
from wsad_core.data.index import CaseRecord, DatasetIndex, VolumeRef
from wsad_core.errors import DataError
from wsad_core.specs import DatasetSpec

__all__ = ["NAME", "FolderOptions", "index_folder", "spec"]

NAME = "folder"


class FolderOptions(BaseModel):
    """Options of the ``folder`` adapter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    images: str = Field("images/*.nii.gz", description="Glob of the image files, relative to the dataset folder.")
    masks: str | None = Field(
        "masks/*.nii.gz", description="Glob of the lesion masks, relative to the dataset folder; null for none."
    )
    modality: Literal["flair", "t1", "t1ce", "t2"] = Field("flair", description="Modality name given to the images.")
    case_pattern: str | None = Field(
        None,
        description="Regular expression with a named group 'case' searched in each file name to pair images and "
        "masks; default: the file name without .nii/.nii.gz.",
    )

    @field_validator("images", "masks")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or Path(value).is_absolute()):
            raise ValueError(f"must be a non-empty glob relative to the dataset folder, got {value!r}")
        return value

    @field_validator("case_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            compiled = re.compile(value)
        except re.error as error:
            raise ValueError(f"invalid regular expression {value!r}: {error}") from None
        if "case" not in compiled.groupindex:
            raise ValueError(f"case_pattern {value!r} has no named group (?P<case>...)")
        return value


def _glob(root: Path, pattern: str, what: str) -> list[Path]:
    files = sorted((p for p in root.glob(pattern) if is_nifti(p)), key=lambda p: str(p))
    if not files:
        raise DataError(
            f"{root}: {what} pattern {pattern!r} matches no .nii/.nii.gz file",
            hint=f"check the folder and the '{what}' option (a glob relative to the dataset folder)",
        )
    return files


def _by_case(files: list[Path], pattern: re.Pattern[str] | None, what: str) -> dict[str, Path]:
    cases: dict[str, Path] = {}
    for path in files:
        if pattern is None:
            case_id = strip_nifti(path.name)
        else:
            match = pattern.search(path.name)
            if match is None or not match.group("case"):
                raise DataError(
                    f"{path}: case_pattern {pattern.pattern!r} does not match this {what} file name",
                    hint="adjust case_pattern so that its (?P<case>...) group matches every file",
                )
            case_id = match.group("case")
        if case_id in cases:
            raise DataError(
                f"{path}: {what} files {cases[case_id].name} and {path.name} both map to case {case_id!r}",
                hint="set case_pattern so that every file yields a distinct case id",
            )
        cases[case_id] = path
    return cases


def index_folder(options: FolderOptions, root: Path) -> DatasetIndex:
    """Index images (and masks) matched by the option globs.

    Args:
        options: the globs, the modality name and the pairing pattern.
        root: the dataset folder the globs are relative to.

    Returns:
        The index, sorted by case id.

    Raises:
        DataError: a glob matches nothing, a file does not match ``case_pattern``, two
            files map to one case, or an image has no mask (or a mask no image).
    """
    require_folder(root, NAME)
    pattern = re.compile(options.case_pattern) if options.case_pattern else None
    images = _by_case(_glob(root, options.images, "images"), pattern, "image")
    masks: dict[str, Path] = {}
    if options.masks is not None:
        masks = _by_case(_glob(root, options.masks, "masks"), pattern, "mask")
        lonely = sorted(set(images) - set(masks))
        if lonely:
            raise DataError(
                f"{images[lonely[0]]}: no mask for case {lonely[0]!r} ({len(lonely)} image(s) without a mask)",
                hint="check the 'masks' glob and case_pattern, or set masks to null",
            )
        orphans = sorted(set(masks) - set(images))
        if orphans:
            raise DataError(
                f"{masks[orphans[0]]}: mask without an image for case {orphans[0]!r} ({len(orphans)} in all)",
                hint="check the 'images' glob and case_pattern",
            )
    cases = [
        CaseRecord(case_id, {options.modality: VolumeRef(path)}, VolumeRef(masks[case_id]) if masks else None)
        for case_id, path in images.items()
    ]
    return DatasetIndex(
        name=NAME, root=root, cases=tuple(cases), description=f"folder of images ({options.images}) and masks"
    )


spec = DatasetSpec(
    name=NAME,
    summary="Generic folder: images and masks matched by glob patterns, paired by case id (choose explicitly).",
    options=FolderOptions,
    factory=index_folder,
    detect=lambda root: False,
)
