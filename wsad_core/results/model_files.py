"""The trained state a finished run keeps for ``wsad predict`` and ``wsad export``.

``<run>/model/<role>.state`` is the file the stage's own ``save(path)`` wrote (restored with its
spec's ``loader``), and ``<run>/model/model.json`` says, per role, which plugin and version wrote
it and the file's sha256, so that a copy can be checked before it is trusted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wsad_core._atomic import atomic_write_text, atomic_writer
from wsad_core.errors import DataError

__all__ = ["MODEL_DIR", "MODEL_MANIFEST", "TrainedFile", "keep_trained", "read_trained", "sha256_of"]

MODEL_DIR = "model"
MODEL_MANIFEST = "model.json"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def keep_trained(run_root: Path, trained: Mapping[str, Path], plugins: Mapping[str, Mapping[str, Any]]) -> None:
    """Copy each role's trained file into ``run_root/model/`` and describe them in ``model.json``.

    Args:
        run_root: the run directory.
        trained: role → the file the stage saved (in its work directory or a shared stage store).
        plugins: role → ``{"name", "version"}`` of the plugin that trained it.
    """
    folder = run_root / MODEL_DIR
    entries = {}
    for role, source in sorted(trained.items()):
        target = folder / f"{role}.state"
        with open(source, "rb") as reader, atomic_writer(target, "wb") as writer:
            shutil.copyfileobj(reader, writer)
        entries[role] = {
            "file": target.name,
            "sha256": sha256_of(target),
            "plugin": str(plugins[role]["name"]),
            "version": str(plugins[role].get("version", "")),
        }
    if entries:
        atomic_write_text(folder / MODEL_MANIFEST, json.dumps({"format": 1, "stages": entries}, indent=1))


TrainedFile = dict[str, str]


def read_trained(folder: Path) -> dict[str, TrainedFile]:
    """Role → entry of ``folder/model.json`` (``file``, ``sha256``, ``plugin``, ``version``), files checked.

    Returns an empty mapping when the folder holds no trained state.

    Raises:
        DataError: the manifest is unreadable, or a file is missing or does not match its sha256.
    """
    manifest = folder / MODEL_MANIFEST
    if not manifest.is_file():
        return {}
    try:
        stages = dict(json.loads(manifest.read_text(encoding="utf-8"))["stages"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{manifest} is unreadable: {error}") from None
    for role, entry in stages.items():
        path = folder / str(entry["file"])
        if not path.is_file():
            raise DataError(f"{path} is missing (listed in {manifest} for the {role})")
        if sha256_of(path) != entry["sha256"]:
            raise DataError(
                f"{path} does not match the sha256 recorded in {manifest}",
                hint="the file was changed or truncated after the run; copy it again from the run",
            )
    return stages
