"""Why a data file cannot be opened: absent, a dangling symbolic link, or a link loop — said as such."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from wsad_core.errors import DataError

__all__ = ["missing_file_error"]


def _is_link_loop(path: Path) -> bool:
    try:
        path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a loop this way
        return True
    except OSError as error:
        return error.errno == errno.ELOOP
    return False


def missing_file_error(path: Path) -> DataError:
    """The error for a ``path`` that does not lead to a file."""
    if path.is_symlink():
        target = os.readlink(path)
        if _is_link_loop(path):
            return DataError(f"{path}: symbolic link loop (-> {target})", hint="fix or remove the link")
        return DataError(
            f"{path}: dangling symbolic link (its target {target} does not exist)",
            hint="restore the target file or fix the link",
        )
    return DataError(f"{path}: file does not exist", hint="check the dataset path and the adapter's file naming")
