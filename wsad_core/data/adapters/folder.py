r"""Adapter ``folder``: any folder of images and masks matched by glob patterns.

Every file is given a case id, and the files of one case are paired by it. ``case_id`` says where the id comes
from: ``file`` (default) the file name without ``.nii``/``.nii.gz``; ``folder`` the name of the file's folder;
``path`` the path below the dataset folder (POSIX, without the suffix). ``case_pattern``, a regular expression with
a named group ``case``, then picks the id out of that string. ``images`` is one glob (its modality set by
``modality``, default flair) or one glob per modality; every case needs every modality, a mask when ``masks`` is
set (lesion labels, any value > 0 is lesion) and a brain mask when ``brain_masks`` is. Globs are relative to the
dataset folder. Common layouts (``wsad data inspect`` takes the same ``-o``, to check them first)::

    # BraTS official names: BraTS20_001/BraTS20_001_flair.nii.gz, ..._t1.nii.gz, ..._seg.nii.gz
    wsad run --data brats/ --adapter folder -o dataset.images.flair='*/*_flair.nii.gz' \
        -o dataset.images.t1='*/*_t1.nii.gz' -o dataset.masks='*/*_seg.nii.gz' -o dataset.case_id=folder

    # one folder per case, the same file names in each: case_017/Flair_preprocessed.nii.gz, seg.nii.gz, ...
    wsad run --data cases/ --adapter folder -o dataset.images.flair='*/Flair*.nii.gz' \
        -o dataset.images.t1ce='*/T1c*.nii.gz' -o dataset.masks='*/seg.nii.gz' \
        -o dataset.brain_masks='*/brainmask.nii.gz' -o dataset.case_id=folder

    # nnU-Net: imagesTr/BraTS_001_0000.nii.gz (channel 0000, 0001, ...) and labelsTr/BraTS_001.nii.gz
    wsad run --data Dataset001/ --adapter folder -o dataset.images.flair='imagesTr/*_0000.nii.gz' \
        -o dataset.images.t1='imagesTr/*_0001.nii.gz' -o dataset.masks='labelsTr/*.nii.gz' \
        -o dataset.case_pattern='^(?P<case>.+?)(_\d{4})?$'

    # flat folders: img/p01_flair.nii.gz and lbl/p01_mask.nii.gz
    wsad run --data data/ --adapter folder -o dataset.images='img/*_flair.nii.gz' \
        -o dataset.masks='lbl/*_mask.nii.gz' -o dataset.case_pattern='^(?P<case>\w+?)_'

That nnU-Net pattern cuts case ids ending in ``_`` and four digits from the labels (``case_0001`` → ``case``);
for such ids use ``'^(?P<case>.+?_\d+?)(_\d{4})?$'``. MSD files (one 4-D file per case) have their own
adapter, ``msd-brain``. Never auto-detected: a generic layout would match almost anything.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wsad_core.data.adapters._common import is_nifti, require_folder, strip_nifti
from wsad_core.data.index import CaseRecord, DatasetIndex, VolumeRef
from wsad_core.errors import DataError
from wsad_core.specs import DatasetSpec

__all__ = ["NAME", "CaseIdSource", "FolderOptions", "Modality", "index_folder", "spec"]

NAME = "folder"

#: The canonical modality names (:data:`wsad_core.data.index.MODALITIES`), spelled out for validation.
Modality = Literal["flair", "t1", "t1ce", "t2"]
#: Where a file's case id is read from.
CaseIdSource = Literal["file", "folder", "path"]

_SOURCE_WORDS: dict[str, str] = {"file": "file name", "folder": "folder name", "path": "path"}


def _check_glob(value: str, option: str | None = None) -> str:
    if not value.strip() or Path(value).is_absolute():
        where = f"{option}: " if option else ""
        raise ValueError(f"{where}must be a non-empty glob relative to the dataset folder, got {value!r}")
    return value


class FolderOptions(BaseModel):
    """Options of the ``folder`` adapter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    images: str | dict[Modality, str] = Field(
        "images/*.nii.gz",
        description="Glob of the image files, relative to the dataset folder, or one glob per modality "
        "(-o dataset.images.flair='*/Flair*.nii.gz' -o dataset.images.t1='*/T1*.nii.gz').",
    )
    masks: str | None = Field(
        "masks/*.nii.gz", description="Glob of the lesion masks, relative to the dataset folder; null for none."
    )
    brain_masks: str | None = Field(
        None,
        description="Glob of the brain masks (voxels > 0 are brain), relative to the dataset folder; null to "
        "estimate the brain from the images.",
    )
    modality: Modality | None = Field(
        None,
        description="Modality of the images when 'images' is one glob (default flair); leave unset when 'images' "
        "gives one glob per modality.",
    )
    case_id: CaseIdSource = Field(
        "file",
        description="Where each file's case id comes from: 'file' its name without .nii/.nii.gz, 'folder' the name "
        "of its folder (one folder per case, same file names in each), 'path' its path below the dataset folder "
        "without the suffix.",
    )
    case_pattern: str | None = Field(
        None,
        description="Regular expression with a named group 'case' searched in the string case_id chooses (file "
        "name, folder name or path) to pair images and masks; default: that whole string.",
    )

    @field_validator("images")
    @classmethod
    def _images(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(value, str):
            return _check_glob(value)
        if not value:
            raise ValueError("images needs at least one modality → glob entry, e.g. images.flair='*/flair.nii.gz'")
        for modality, glob in value.items():
            _check_glob(glob, f"images.{modality}")
        return value

    @field_validator("masks", "brain_masks")
    @classmethod
    def _glob_or_none(cls, value: str | None) -> str | None:
        return value if value is None else _check_glob(value)

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

    @model_validator(mode="after")
    def _modality_names_one_glob(self) -> FolderOptions:
        # Accepting both would leave it unclear which name wins; refusing costs the user one option.
        if isinstance(self.images, dict) and self.modality is not None:
            raise ValueError(
                f"modality={self.modality!r} names the images of a single 'images' glob; with one glob per modality "
                f"(images.{next(iter(self.images))}=...) the keys name them: drop 'modality'"
            )
        return self


def _glob(root: Path, pattern: str, option: str) -> list[Path]:
    files = sorted((p for p in root.glob(pattern) if is_nifti(p)), key=lambda p: str(p))
    if not files:
        raise DataError(
            f"{root}: {option} pattern {pattern!r} matches no .nii/.nii.gz file",
            hint=f"check the folder and the '{option}' option (a glob relative to the dataset folder)",
        )
    return files


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:  # root.glob yields paths below root; kept safe for odd globs
        return Path(path.name)


def _case_source(path: Path, root: Path, source: CaseIdSource, option: str) -> str:
    if source == "file":
        return strip_nifti(path.name)
    relative = _relative(path, root)
    if source == "path":
        return strip_nifti(relative.as_posix())
    if len(relative.parts) < 2:
        raise DataError(
            f"{path}: case_id=folder takes the case id from the file's folder, but this file (matched by "
            f"'{option}') lies directly in the dataset folder",
            hint="use case_id=file for a flat folder, or make the glob match files inside the case folders",
        )
    return relative.parts[-2]


def _by_case(
    files: list[Path], root: Path, options: FolderOptions, pattern: re.Pattern[str] | None, what: str, option: str
) -> dict[str, Path]:
    cases: dict[str, Path] = {}
    for path in files:
        source = _case_source(path, root, options.case_id, option)
        if pattern is None:
            case_id = source
        else:
            match = pattern.search(source)
            if match is None or not match.group("case"):
                raise DataError(
                    f"{path}: case_pattern {pattern.pattern!r} does not match this {what} "
                    f"{_SOURCE_WORDS[options.case_id]} ({source!r})",
                    hint="adjust case_pattern (or case_id) so that its (?P<case>...) group matches every file",
                )
            case_id = match.group("case")
        if case_id in cases:
            first = cases[case_id]
            hint = "set case_pattern (or case_id) so that every file yields a distinct case id"
            if options.case_id == "file" and first.name == path.name:
                hint = (
                    f"every folder seems to hold a file named {path.name!r}: with one folder per case, take the case "
                    "id from the folder: -o dataset.case_id=folder"
                )
            elif options.case_id == "folder" and first.parent == path.parent:
                hint = f"the '{option}' glob matches several files in one folder: make it match one file per case"
            raise DataError(
                f"{path}: {what} files {_relative(first, root).as_posix()} and {_relative(path, root).as_posix()} "
                f"both map to case {case_id!r}",
                hint=hint,
            )
        cases[case_id] = path
    return cases


def _require_every_modality(images: dict[str, dict[str, Path]], globs: dict[str, tuple[str, str, str]]) -> None:
    every: set[str] = set().union(*images.values())
    for modality, found in images.items():
        missing = sorted(every - set(found))
        if not missing:
            continue
        case_id = missing[0]
        other = next(files[case_id] for files in images.values() if case_id in files)
        option, _, glob = globs[modality]
        raise DataError(
            f"{other}: case {case_id!r} has no {modality} image ({len(missing)} of {len(every)} case(s) lack one)",
            hint=f"check the '{option}' glob ({glob!r}) and case_id/case_pattern, or remove the case",
        )


def _require_pairs(images: dict[str, Path], others: dict[str, Path], what: str, option: str) -> None:
    lonely = sorted(set(images) - set(others))
    if lonely:
        raise DataError(
            f"{images[lonely[0]]}: no {what} for case {lonely[0]!r} ({len(lonely)} image(s) without a {what})",
            hint=f"check the '{option}' glob and case_id/case_pattern, or set {option} to null",
        )
    orphans = sorted(set(others) - set(images))
    if orphans:
        raise DataError(
            f"{others[orphans[0]]}: {what} without an image for case {orphans[0]!r} ({len(orphans)} in all)",
            hint="check the 'images' glob(s) and case_id/case_pattern, or remove the file",
        )


def index_folder(options: FolderOptions, root: Path) -> DatasetIndex:
    """Index images (and masks, brain masks) matched by the option globs.

    Args:
        options: the globs, the modality names and where case ids come from.
        root: the dataset folder the globs are relative to.

    Returns:
        The index, sorted by case id.

    Raises:
        DataError: a glob matches nothing, a file does not match ``case_pattern``, two files of one
            kind map to one case, a case lacks a modality, or a mask (brain mask) has no image or an
            image none.
    """
    require_folder(root, NAME)
    pattern = re.compile(options.case_pattern) if options.case_pattern else None
    # modality → (option name for messages, file kind for messages, glob)
    globs: dict[str, tuple[str, str, str]]
    if isinstance(options.images, str):
        globs = {options.modality or "flair": ("images", "image", options.images)}
    else:
        globs = {m: (f"images.{m}", f"{m} image", glob) for m, glob in options.images.items()}
    images = {
        modality: _by_case(_glob(root, glob, option), root, options, pattern, what, option)
        for modality, (option, what, glob) in globs.items()
    }
    _require_every_modality(images, globs)
    first = next(iter(images.values()))
    extra: dict[str, dict[str, Path]] = {}
    for option, what, glob in (("masks", "mask", options.masks), ("brain_masks", "brain mask", options.brain_masks)):
        if glob is not None:
            extra[option] = _by_case(_glob(root, glob, option), root, options, pattern, what, option)
            _require_pairs(first, extra[option], what, option)
    masks, brains = extra.get("masks", {}), extra.get("brain_masks", {})
    cases = [
        CaseRecord(
            case_id,
            {modality: VolumeRef(images[modality][case_id]) for modality in images},
            VolumeRef(masks[case_id]) if masks else None,
            brain=VolumeRef(brains[case_id]) if brains else None,
        )
        for case_id in first
    ]
    described = ", ".join(f"{m}: {glob}" for m, (_, _, glob) in globs.items())
    return DatasetIndex(
        name=NAME,
        root=root,
        cases=tuple(cases),
        description=f"folder of images ({described})"
        + (f", masks ({options.masks})" if options.masks else "")
        + (f", brain masks ({options.brain_masks})" if options.brain_masks else ""),
    )


spec = DatasetSpec(
    name=NAME,
    summary="Generic folder: images (one glob, or one per modality), masks and brain masks matched by globs, "
    "paired by a case id from the file name, its folder or its path (choose explicitly).",
    options=FolderOptions,
    factory=index_folder,
    detect=lambda root: False,
)
