"""``wsad export``: a finished run as a self-contained folder another machine can predict with."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsad_core._atomic import atomic_write_text
from wsad_core._version import __version__
from wsad_core.errors import DataError
from wsad_core.predict.trained import BUNDLE_FILE, BUNDLE_FORMAT, open_trained
from wsad_core.results.model_files import MODEL_DIR, MODEL_MANIFEST

if TYPE_CHECKING:
    from wsad_core.plugins import PluginHost

__all__ = ["export_bundle"]

_README = """This folder is a wsad model bundle ({format}), exported from run {run}.

    wsad predict {name} INPUT --out DIR

applies it to a dataset folder or NIfTI files on any machine with wsad and these plugins installed:
{plugins}
bundle.json holds the resolved configuration (preprocessing included), the thresholds the run chose,
the plugins and versions, every deviation from the published methods, notes and provenance;
model/ holds the trained state (loaded weights-only) with its sha256 in model/model.json.
"""


def export_bundle(run_dir: Path, bundle: Path, host: PluginHost, *, overwrite: bool = False) -> Path:
    """Write the bundle of the finished run ``run_dir`` to the folder ``bundle``.

    The folder is assembled beside its destination and renamed into place, so an interrupted
    export leaves no half bundle.

    Raises:
        DataError: ``run_dir`` is not a finished run that kept its trained state, or ``bundle`` exists
            (without ``overwrite``).
    """
    trained = open_trained(run_dir, host)
    if trained.kind != "run":
        raise DataError(f"{run_dir} is already a bundle", hint="copy the folder instead")
    missing = [
        f"{s.role} {s.name}" for s in trained.needed_stages() if not s.spec.stateless and s.role not in trained.trained
    ]
    if missing:
        raise DataError(
            f"{run_dir} keeps no trained state for {', '.join(missing)}",
            hint="runs made before wsad kept trained models (model/) must be run again",
        )
    if bundle.exists() and not overwrite:
        raise DataError(f"{bundle} exists", hint="choose another name, or pass --overwrite")
    staging = bundle.with_name(f".{bundle.name}.partial-{time.strftime('%Y%m%d%H%M%S')}")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / MODEL_DIR).mkdir(parents=True)
    for entry in trained.trained.values():
        shutil.copy2(trained.model_dir / entry["file"], staging / MODEL_DIR / entry["file"])
    shutil.copy2(trained.model_dir / MODEL_MANIFEST, staging / MODEL_DIR / MODEL_MANIFEST)
    split = _read_json(run_dir / "split.json")
    record: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wsad_core": __version__,
        "config": trained.config.model_dump(mode="json"),
        "pipeline": trained.config.pipeline.label(),
        "plugins": trained.facts.get("plugins"),
        "output_kind": trained.plan.output_kind,
        "thresholds": trained.thresholds,
        "deviations": trained.facts.get("deviations", []),
        "notes": trained.facts.get("notes", []),
        "provenance": trained.facts.get("provenance", {}),
        "source": {**(trained.facts.get("source") or {}), "split": split},
    }
    atomic_write_text(staging / BUNDLE_FILE, json.dumps(record, indent=1, default=str))
    plugins = "\n".join(
        f"  {role}: {entry['name']} {entry.get('version', '')}".rstrip()
        for role, entry in (trained.facts.get("plugins") or {}).items()
    )
    atomic_write_text(
        staging / "README.txt",
        _README.format(format=BUNDLE_FORMAT, run=run_dir, name=bundle, plugins=plugins),
    )
    if bundle.exists():
        shutil.rmtree(bundle)
    staging.rename(bundle)
    return bundle


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
