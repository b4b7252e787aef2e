"""Writing the embedded demo dataset to a folder, atomically and idempotently.

Each case is generated into a private temporary folder and renamed into place, so an
interrupted run leaves either a complete ``case_XXX`` folder or none; a concurrent run
that wins the rename keeps its (identical) files. Case ``i`` depends only on the seed
and ``i``, never on how many cases are asked for.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from wsad_core._atomic import atomic_write_text
from wsad_core.data._anatomy import MNI_SOURCE, mni_tissues
from wsad_core.data.synthetic import render_case
from wsad_core.errors import DataError

__all__ = ["DEMO_DESCRIPTION", "DEMO_FILES", "DEMO_MANIFEST", "DEMO_VERSION", "demo_case_dirs", "ensure_demo_dataset"]

#: Bump when the generator's output changes, so caches keyed on it are not reused.
DEMO_VERSION = 1
DEMO_MANIFEST = "wsad-demo.json"
DEMO_DESCRIPTION = "synthetic lesions in the MNI152 2009 template (nilearn); not patient data"
#: Files of one case: modality (or ``seg``) → file name.
DEMO_FILES = {"flair": "flair.nii.gz", "t1": "t1.nii.gz", "seg": "seg.nii.gz"}
_STALE_SECONDS = 3600.0


def _manifest(resolution: int, seed: int) -> dict[str, object]:
    return {
        "generator": "wsad_core.data.synthetic",
        "version": DEMO_VERSION,
        "resolution": resolution,
        "seed": seed,
        "anatomy": MNI_SOURCE,
        "description": DEMO_DESCRIPTION,
    }


def _write_json_atomic(path: Path, payload: dict[str, object]) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _claim(root: Path, resolution: int, seed: int) -> None:
    """Create ``root`` with its manifest, or check that an existing one matches."""
    root.mkdir(parents=True, exist_ok=True)
    expected = _manifest(resolution, seed)
    manifest = root / DEMO_MANIFEST
    if manifest.exists():
        try:
            found = json.loads(manifest.read_text())
        except (OSError, ValueError) as error:
            raise DataError(f"{manifest}: unreadable demo manifest ({error})", hint="delete the folder") from None
        keys = ("version", "resolution", "seed")
        if any(found.get(k) != expected[k] for k in keys):
            theirs = ", ".join(f"{k}={found.get(k)}" for k in keys)
            ours = ", ".join(f"{k}={expected[k]}" for k in keys)
            raise DataError(
                f"{root}: holds demo data generated with {theirs}, not {ours}",
                hint="use an empty folder for other demo options, or `wsad ... demo` for the managed cache",
            )
        return
    # The manifest itself may come from a concurrent run that claimed the folder first.
    if any(p for p in root.iterdir() if not p.name.startswith(".") and p.name != DEMO_MANIFEST):
        raise DataError(f"{root}: folder is not empty and holds no demo dataset", hint="choose an empty folder")
    _write_json_atomic(manifest, expected)


def _clean_stale(root: Path) -> None:
    now = time.time()
    for leftover in root.glob(".tmp-*"):
        try:
            if now - leftover.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def demo_case_dirs(root: Path, cases: int) -> list[Path]:
    """The folders of cases ``0 .. cases-1`` under ``root`` (present or not)."""
    return [root / f"case_{index:03d}" for index in range(cases)]


def ensure_demo_dataset(root: Path, *, cases: int = 10, resolution: int = 2, seed: int = 0) -> list[Path]:
    """Generate the missing demo cases under ``root`` and return all case folders.

    Args:
        root: the dataset folder (created if missing).
        cases: number of subjects.
        resolution: voxel size in mm (1 or 2).
        seed: subject ``i`` is drawn from ``numpy.random.default_rng([seed, i])``.

    Returns:
        ``root/case_000`` … in order, each holding :data:`DEMO_FILES`.

    Raises:
        DataError: ``root`` holds other data or demo data made with other options.
    """
    _claim(root, resolution, seed)
    _clean_stale(root)
    folders = demo_case_dirs(root, cases)
    for index, folder in enumerate(folders):
        if folder.is_dir():
            continue
        rng = np.random.default_rng([seed, index])
        subject = render_case(mni_tissues(resolution), rng, lesions=int(rng.integers(1, 4)))
        temporary = root / f".tmp-{folder.name}-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            subject.write(temporary, DEMO_FILES)
            os.rename(temporary, folder)
        except OSError:
            # Another process renamed its copy first: theirs is identical, keep it.
            if not folder.is_dir():
                raise
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    return folders
