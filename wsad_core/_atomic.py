"""Atomic file writes: a reader sees the old file or the complete new one, never a torn one.

Every writer goes through :func:`atomic_writer`: the data goes to a temporary file in the
target's directory (``os.replace`` is only atomic within one file system), is flushed and
fsynced, and then replaces the target. If anything raises, the temporary file is removed
and the target is left as it was. Temporary names end in :data:`TEMP_SUFFIX` so that a run
directory can sweep the leftovers of a killed process (:func:`remove_stale_temps`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

__all__ = [
    "TEMP_SUFFIX",
    "atomic_save_npz",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_writer",
    "remove_stale_temps",
]

TEMP_SUFFIX = ".wsad-tmp"

Compression = bool | Literal["auto"]


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}")


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform (e.g. Windows).
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_writer(
    path: str | os.PathLike[str], mode: str = "w", *, encoding: str = "utf-8", newline: str | None = ""
) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; it replaces ``path`` on success.

    Parent directories are created. The temporary file is created with ``O_EXCL`` and the
    usual ``0o666 & ~umask`` permissions, so the result looks like a normally written file.

    Args:
        path: The file to (re)place.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        encoding: Text encoding for ``"w"``.
        newline: Newline translation for ``"w"``; the default ``""`` writes text unchanged.

    Yields:
        The open temporary file.

    Raises:
        ValueError: ``mode`` is neither ``"w"`` nor ``"wb"``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_writer supports modes 'w' and 'wb', got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_path(target)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        if mode == "wb":
            handle: IO[Any] = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding=encoding, newline=newline)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically, byte for byte (no newline translation)."""
    with atomic_writer(path, "w", encoding=encoding) as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_writer(path, "wb") as handle:
        handle.write(data)


def _deflate(array: np.ndarray, compress: Compression) -> bool:
    if compress == "auto":
        # Masks and label maps shrink 10-20x; float maps barely shrink and deflate at ~30 MB/s.
        return array.dtype.kind in "biu"
    return bool(compress)


def atomic_save_npz(path: str | os.PathLike[str], *, compress: Compression = True, **arrays: np.ndarray) -> None:
    """Save ``arrays`` as an ``.npz`` archive atomically (readable with ``np.load``).

    Args:
        path: Target file; no ``.npz`` suffix is appended.
        compress: ``True`` deflates every array, ``False`` none, ``"auto"`` only boolean and
            integer arrays (fast for large float maps, small for masks).
        **arrays: Archive members by name; object arrays are refused (no pickles).

    Raises:
        ValueError: An array has an object dtype.
    """
    # Same layout as numpy's own savez (one .npy member per array) with a per-member choice.
    with atomic_writer(path, "wb") as handle, zipfile.ZipFile(handle, "w", allowZip64=True) as archive:
        for name, value in arrays.items():
            array = np.asanyarray(value)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if _deflate(array, compress) else zipfile.ZIP_STORED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def atomic_torch_save(obj: object, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj, path)`` atomically (torch is imported only here)."""
    import torch

    with atomic_writer(path, "wb") as handle:
        torch.save(obj, handle)


def remove_stale_temps(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files left under ``directory`` by an interrupted writer.

    Only names written by :func:`atomic_writer` (``.<name>.<hex>.wsad-tmp``) are touched.

    Returns:
        The removed paths.
    """
    removed = []
    for temp in Path(directory).rglob(f".*{TEMP_SUFFIX}"):
        if temp.is_file():
            temp.unlink(missing_ok=True)
            removed.append(temp)
    return removed
