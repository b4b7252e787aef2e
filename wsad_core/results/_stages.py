"""Resumable stage outputs inside a run directory (mixed into :class:`~wsad_core.results.RunDirectory`).

A stage counts as done only when its ``done.json`` exists and records the key the caller
asks for: a stage whose configuration changed (another key) is recomputed, and a crash
between writing the arrays and the marker leaves the stage not done.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wsad_core._atomic import atomic_save_npz, atomic_write_text
from wsad_core.errors import RunDirectoryError
from wsad_core.results import _layout as layout
from wsad_core.results._serial import read_json, utc_now, write_json

__all__ = ["StageStore", "StagesMixin"]

_STAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_WORK_KEY = ".wsad-key"


def _short(key: str) -> str:
    return key[:16]


class StagesMixin:
    """Stage methods of a run directory rooted at ``self.root``."""

    root: Path

    def stage_dir(self, name: str) -> Path:
        """``stages/<name>/`` (created).

        Raises:
            ValueError: ``name`` is not a plain file name (letters, digits, ``._-``).
        """
        directory = self._stage_path(name)
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _stage_path(self, name: str) -> Path:
        if not _STAGE_NAME.match(name):
            raise ValueError(f"invalid stage name {name!r}: use letters, digits, '.', '_' and '-'")
        return self.root / layout.STAGES / name

    def work_dir(self, stage: str, key: str | None = None) -> Path:
        """``stages/<stage>/work/`` (created): a plugin's checkpoints, kept across resumes.

        Args:
            stage: The stage.
            key: When given, the directory belongs to this key: if it was last used with another
                key (another configuration), its contents are deleted so no stale checkpoint is
                picked up.
        """
        directory = self.stage_dir(stage) / layout.WORK
        marker = directory / _WORK_KEY
        if key is not None and marker.exists() and marker.read_text(encoding="utf-8") != key:
            shutil.rmtree(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if key is not None and not marker.exists():
            atomic_write_text(marker, key)
        return directory

    def _stored_key(self, name: str) -> str | None:
        try:
            return str(read_json(self._stage_path(name) / layout.DONE)["key"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def stage_done(self, name: str, key: str) -> bool:
        """Whether stage ``name`` was saved with ``key`` (and its files are in place)."""
        directory = self._stage_path(name)
        files_present = (directory / layout.ARRAYS).is_file() and (directory / layout.META).is_file()
        return files_present and self._stored_key(name) == key

    def save_stage(self, name: str, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        """Save a stage's outputs; the ``done.json`` marker (recording ``key``) is written last.

        Float arrays are stored uncompressed (they barely shrink and deflate slowly), boolean
        and integer arrays deflated.

        Args:
            name: The stage, e.g. ``"pseudo-masks"``.
            key: Fingerprint of everything the outputs depend on (options, upstream keys).
            arrays: Named arrays (no object dtypes).
            meta: JSON-compatible metadata.
        """
        directory = self.stage_dir(name)
        # Invalidate first: a crash below must leave the stage "not done", never half-replaced.
        (directory / layout.DONE).unlink(missing_ok=True)
        atomic_save_npz(directory / layout.ARRAYS, compress="auto", **arrays)
        write_json(directory / layout.META, meta)
        write_json(directory / layout.DONE, {"key": key, "saved_at": utc_now(), "arrays": sorted(arrays)})

    def load_stage(self, name: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The arrays and metadata saved by :meth:`save_stage` under ``key``.

        Raises:
            RunDirectoryError: The stage is not done, was saved under another key, or its files
                are unreadable.
        """
        if not self.stage_done(name, key):
            stored = self._stored_key(name)
            if stored is None or stored == key:
                raise RunDirectoryError(f"stage {name!r} of {self.root} is not done", hint="compute it first")
            raise RunDirectoryError(
                f"stage {name!r} of {self.root} was saved with key {_short(stored)}, not {_short(key)}",
                hint="its configuration changed: compute it again",
            )
        directory = self.stage_dir(name)
        try:
            with np.load(directory / layout.ARRAYS, allow_pickle=False) as archive:
                arrays = {member: archive[member] for member in archive.files}
            meta = read_json(directory / layout.META)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as error:
            raise RunDirectoryError(
                f"stage {name!r} of {self.root} is unreadable: {error}",
                hint=f"delete {directory} and resume to compute it again",
            ) from error
        return arrays, meta


class StageStore(StagesMixin):
    """Stage outputs under ``<root>/stages/`` without a run around them (a benchmark's shared store)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
