"""Helpers shared by the dataset adapters: listing NIfTI files and case folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from wsad_core.errors import DataError

__all__ = [
    "NIFTI_SUFFIXES",
    "NoOptions",
    "case_folders",
    "is_nifti",
    "nifti_files",
    "require_folder",
    "safe_detect",
    "strip_nifti",
]

NIFTI_SUFFIXES = (".nii.gz", ".nii")


class NoOptions(BaseModel):
    """Options of an adapter that has none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def is_nifti(path: Path) -> bool:
    """``True`` for ``.nii``/``.nii.gz`` files, ignoring hidden and macOS ``._*`` files.

    A symbolic link counts even when it is dangling or loops: loading it then says so, where skipping it
    would report the case's modality as missing.
    """
    name = path.name
    return not name.startswith(".") and name.lower().endswith(NIFTI_SUFFIXES) and (path.is_file() or path.is_symlink())


def strip_nifti(name: str) -> str:
    """The file name without ``.nii.gz`` or ``.nii`` (any case)."""
    lower = name.lower()
    for suffix in NIFTI_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def nifti_files(folder: Path) -> list[Path]:
    """NIfTI files directly inside ``folder``, sorted by name."""
    return sorted((p for p in folder.iterdir() if is_nifti(p)), key=lambda p: p.name)


def case_folders(root: Path) -> list[Path]:
    """Visible sub-folders of ``root``, sorted by name (never filesystem order)."""
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))), key=lambda p: p.name)


def require_folder(root: Path, adapter: str) -> Path:
    """``root`` if it is an existing folder.

    Raises:
        DataError: naming the path and the adapter.
    """
    if not root.exists():
        raise DataError(f"{root}: dataset folder does not exist", hint=f"check the path given to adapter {adapter!r}")
    if not root.is_dir():
        raise DataError(f"{root}: is a file, adapter {adapter!r} expects a dataset folder")
    return root


def safe_detect(check: Callable[[Path], bool]) -> Callable[[Path], bool]:
    """Wrap a layout check so that unreadable folders count as 'not this layout'."""

    def detect(root: Path) -> bool:
        try:
            return root.is_dir() and bool(check(root))
        except OSError:
            return False

    detect.__doc__ = check.__doc__
    return detect
