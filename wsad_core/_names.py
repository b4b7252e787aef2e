"""Names that become folder names, checked or slugged so that outputs stay under the folder the user chose.

Two kinds of names end up in paths:

* names a user types in a configuration (a benchmark's ``name``, a dataset's ``name``, a pipeline's
  ``label``) are checked with :func:`check_name` when the configuration is read, so a bad one is a
  configuration error naming the field, before any work;
* display text (a label such as ``MedSAM+zscore (box)``) becomes a folder name through :func:`slug`.

:func:`inside` is the backstop where folders are built: the path must lie below its root.
Case ids are handled by :func:`wsad_core.results.case_file_stem` instead: they come from the data,
which the user cannot always rename, so they are encoded rather than rejected.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from wsad_core.errors import ConfigError

__all__ = ["NAME_RULE", "check_name", "folder_clashes", "inside", "slug"]

NAME_RULE = "start with a letter or digit, then use letters, digits, spaces and ._()+- (at most 100 characters)"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,99}")
_NOT_KEPT = re.compile(r"[^A-Za-z0-9.+-]+")
# Well below the 255-byte limit of common file systems, leaving room for prefixes and suffixes.
_MAX_SLUG = 150


def check_name(name: str, what: str) -> str:
    """``name`` unchanged, after checking it is a plain name (for a pydantic validator).

    The first character is a letter or digit, so no name can be ``.``, ``..``, hidden or taken
    for an option; separators, NUL and newlines are not allowed at all.

    Raises:
        ValueError: naming ``what`` and the rule.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r}: {NAME_RULE}")
    return name


def slug(text: str) -> str:
    """``text`` as one folder name: each run of characters other than letters, digits and ``.+-`` becomes ``_``.

    Leading ``.``, ``-`` and ``_`` and trailing ``_`` are dropped, so the result is never ``.`` or
    ``..``, hidden, or option-like. A text that starts with a letter or digit keeps the slug it
    always had: committed results name their job folders with it (``MedSAM+zscore (box)`` →
    ``MedSAM+zscore_box``).

    Raises:
        ValueError: nothing usable is left, or the result is too long for a file name.
    """
    stem = _NOT_KEPT.sub("_", str(text)).strip("_").lstrip(".-_")
    if not stem:
        raise ValueError(f"{text!r} leaves no usable folder name")
    if len(stem) > _MAX_SLUG:
        raise ValueError(f"{text!r} is too long for a folder name (at most {_MAX_SLUG} characters)")
    return stem


def folder_clashes(names: Iterable[str]) -> list[tuple[str, ...]]:
    """Groups of distinct names whose slugs give the same folder, in first-seen order.

    Letter case is ignored: ``AE`` and ``ae`` are one folder on macOS and Windows, and results are
    copied between machines.
    """
    folders: dict[str, list[str]] = defaultdict(list)
    for name in dict.fromkeys(names):
        folders[slug(name).casefold()].append(name)
    return [tuple(group) for group in folders.values() if len(group) > 1]


def _normal(path: Path) -> Path:
    # Lexical, not Path.resolve(): a folder the user made a symlink must keep working, while
    # a name that climbs out with ``..`` or is absolute is caught all the same.
    return Path(os.path.normpath(os.path.abspath(path)))


def inside(root: Path, path: Path) -> Path:
    """``path`` unchanged, after checking that it lies strictly below ``root``.

    Raises:
        ConfigError: ``path`` is ``root`` itself or outside it.
    """
    base, target = _normal(root), _normal(path)
    if target == base or not target.is_relative_to(base):
        raise ConfigError(
            f"refusing to write {path}: it is not inside {root}",
            hint="names that become folders must not contain '/', '\\' or '..', nor be absolute paths",
        )
    return path
