"""A finished run (or an exported bundle) opened for prediction: its configuration, plugins and trained state."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from wsad_core.errors import ConfigError, ContractError, DataError, UnknownPluginError
from wsad_core.results.model_files import MODEL_DIR, TrainedFile, read_trained

if TYPE_CHECKING:
    from wsad_core.config import RunConfig
    from wsad_core.context import BuildContext
    from wsad_core.pipeline.plan import PipelinePlan, PlannedStage
    from wsad_core.plugins import PluginHost

__all__ = ["BUNDLE_FILE", "BUNDLE_FORMAT", "StageObjects", "TrainedPipeline", "open_trained"]

log = logging.getLogger("wsad.predict")

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = "wsad-bundle-1"


@dataclass(frozen=True, slots=True)
class StageObjects:
    """The role objects prediction calls: the segmenter, and the mask stages when test time needs them."""

    generator: Any = None
    refiner: Any = None
    segmenter: Any = None


@dataclass(frozen=True, slots=True)
class TrainedPipeline:
    """What ``wsad predict`` applies.

    Attributes:
        root: the run directory or bundle.
        kind: ``"run"`` or ``"bundle"``.
        config: the run's resolved configuration.
        plan: its stages resolved against the installed plugins.
        trained: role → trained-state entry (``model/model.json``).
        thresholds: protocol → threshold rule → threshold the run chose (test rows of its summary).
        facts: what the run recorded (pipeline label, plugins and versions, deviations, notes, provenance).
    """

    root: Path
    kind: Literal["run", "bundle"]
    config: RunConfig
    plan: PipelinePlan
    trained: dict[str, TrainedFile]
    thresholds: dict[str, dict[str, float]]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def model_dir(self) -> Path:
        """The folder holding the trained-state files."""
        return self.root / MODEL_DIR

    def needed_stages(self) -> list[PlannedStage]:
        """The stages that run at test time: the segmenter; the mask stages when it is prompted or absent."""
        plan = self.plan
        prompted = plan.segmenter is not None and plan.segmenter.spec.prompted_by_pseudo_masks  # type: ignore[attr-defined]
        stages = [plan.generator, plan.refiner] if plan.segmenter is None or prompted else []
        return [s for s in (*stages, plan.segmenter) if s is not None]

    def choose_threshold(self, protocol: str = "per-slice") -> tuple[float, str]:
        """The run's val-best threshold of ``protocol``; 0.5 for probability maps of runs without one.

        Raises:
            ConfigError: score maps and no val-best threshold (pass ``--threshold``).
        """
        chosen = self.thresholds.get(protocol, {})
        if chosen.get("val-best") is not None:
            return float(chosen["val-best"]), f"val-best of the run ({protocol}, chosen on its validation patients)"
        if self.plan.output_kind == "probability":
            return 0.5, f"fixed 0.5 (the run has no {protocol} val-best threshold)"
        raise ConfigError(
            f"{self.root} has no val-best threshold for {protocol} and its maps are unbounded scores",
            hint="give --threshold T, or --protocol with a protocol the run chose a val-best threshold for",
        )

    def build(self, host: PluginHost, context: BuildContext) -> StageObjects:
        """The role objects, restored from the trained state or (stateless stages) rebuilt from options.

        Raises:
            DataError: a stage cannot be restored (no loader, or the run kept no trained state).
        """
        objects: dict[str, Any] = {}
        for stage in self.needed_stages():
            entry = self.trained.get(stage.role)
            if entry is not None and stage.spec.loader is not None:
                log.info("%s %s: restored from %s", stage.role, stage.name, self.model_dir / entry["file"])
                objects[stage.role] = stage.spec.loader(self.model_dir / entry["file"], context)
            elif stage.spec.stateless:
                objects[stage.role] = host.create(stage.role, stage.name, stage.options, context)
            elif stage.spec.loader is None:
                raise DataError(
                    f"{stage.role} {stage.name!r} cannot be restored: its plugin declares no loader",
                    hint="wsad predict needs plugins that save and load their trained state (spec.loader)",
                )
            else:
                raise DataError(
                    f"{self.root} keeps no trained state for {stage.role} {stage.name!r}",
                    hint="runs made before wsad kept trained models (model/) must be run again",
                )
        return StageObjects(**objects)


def open_trained(path: Path, host: PluginHost, *, allow_version_mismatch: bool = False) -> TrainedPipeline:
    """Open a finished run directory or an exported bundle for prediction.

    Raises:
        DataError: ``path`` is neither, the run did not finish, or its files are unreadable or altered.
        UnknownPluginError: a plugin the pipeline needs is not installed (named with its version).
        ContractError: an installed plugin has another version than the one that trained the model.
    """
    from wsad_core.config import RunConfig
    from wsad_core.pipeline.plan import plan_pipeline

    if not path.is_dir():
        raise DataError(f"{path} does not exist or is not a folder", hint="give a run directory or a bundle")
    if (path / BUNDLE_FILE).is_file():
        kind: Literal["run", "bundle"] = "bundle"
        record = _read_bundle(path)
        saved, thresholds = record["config"], record["thresholds"]
        facts = {k: record.get(k) for k in ("pipeline", "plugins", "deviations", "notes", "provenance", "source")}
    elif (path / "run.json").is_file():
        kind = "run"
        saved, thresholds, facts = _read_run(path)
    else:
        raise DataError(
            f"{path} is neither a run directory (run.json) nor a bundle ({BUNDLE_FILE})",
            hint="give the folder `wsad run` wrote, or one `wsad export` wrote",
        )
    try:
        config = RunConfig.model_validate(saved)
    except ValueError as error:
        raise DataError(f"{path}: the saved configuration is not valid for this wsad: {error}") from None
    _check_plugins(path, facts.get("plugins") or {}, host, allow_version_mismatch)
    plan = plan_pipeline(config, host)
    trained = read_trained(path / MODEL_DIR)
    return TrainedPipeline(path, kind, config, plan, trained, thresholds, facts)


def _read_bundle(path: Path) -> dict[str, Any]:
    try:
        record = json.loads((path / BUNDLE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path / BUNDLE_FILE} is unreadable: {error}") from None
    if not isinstance(record, dict) or record.get("format") != BUNDLE_FORMAT:
        found = record.get("format") if isinstance(record, dict) else None
        raise DataError(
            f"{path / BUNDLE_FILE} is not a bundle this wsad reads (format {found!r}, expected {BUNDLE_FORMAT!r})",
            hint="export the run again with this version of wsad",
        )
    return record


def _read_run(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, float]], dict[str, Any]]:
    """The saved configuration, thresholds and facts of the finished run in ``path``."""
    import yaml

    try:
        status = json.loads((path / "run.json").read_text(encoding="utf-8"))
        resolved = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        environment = json.loads((path / "env.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path} is not a finished run: {error}", hint="predict from a run that finished") from None
    if status.get("status") != "finished":
        raise DataError(
            f"{path} is a run that did not finish (status {status.get('status')!r})",
            hint="finish it with `wsad run ... --resume`, then predict",
        )
    facts = {
        "pipeline": resolved["config"]["pipeline"],
        "plugins": {
            role: {"name": stage["name"], "version": stage.get("version", "")}
            for role, stage in resolved.get("resolved", {}).items()
            if role in ("generator", "refiner", "segmenter")
        },
        "deviations": environment.get("deviations", []),
        "notes": environment.get("notes", []),
        "provenance": environment.get("provenance", {}),
        "source": {"run": str(path.resolve()), "run_id": status.get("run_id", path.name)},
    }
    return resolved["config"], run_thresholds(summary["rows"]), facts


def run_thresholds(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Protocol → rule → threshold of the test rows of a run's summary (rules that chose none are left out)."""
    chosen: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.get("target") == "test" and row.get("threshold") is not None and not row.get("oracle"):
            chosen.setdefault(str(row["protocol"]), {})[str(row["threshold_rule"])] = float(row["threshold"])
    return chosen


def _check_plugins(path: Path, recorded: dict[str, Any], host: PluginHost, allow_mismatch: bool) -> None:
    """Every recorded plugin is installed at the recorded version."""
    for role, entry in recorded.items():
        name, version = str(entry["name"]), str(entry.get("version", ""))
        try:
            spec = host.get(role, name)  # type: ignore[arg-type]
        except UnknownPluginError:
            raise UnknownPluginError(
                f"{path} needs the {role} plugin {name!r} (version {version or 'unknown'}), which is not installed",
                hint="install the distribution that provides it (see the bundle's bundle.json), then retry",
            ) from None
        if version and spec.version and spec.version != version:
            message = f"{role} {name!r} is installed at version {spec.version}, the model was trained with {version}"
            if not allow_mismatch:
                raise ContractError(
                    message, hint=f"install version {version}, or pass --allow-version-mismatch to try anyway"
                )
            log.warning("%s (--allow-version-mismatch)", message)
