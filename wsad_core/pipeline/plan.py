"""Resolve and check a pipeline before any data is loaded.

Unknown plugin names, invalid options and incompatible plugin pairings fail here, in
seconds, instead of after an hour of training.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wsad_core.errors import ConfigError, ContractError
from wsad_core.metrics.thresholds import ThresholdRule, parse_threshold_rule

if TYPE_CHECKING:
    from pydantic import BaseModel

    from wsad_core.config import EvaluationConfig, RunConfig, StageConfig
    from wsad_core.plugins import PluginHost
    from wsad_core.specs import EvaluatorSpec, PluginSpec, Role, SegmenterSpec

__all__ = ["PipelinePlan", "PlannedStage", "plan_evaluation", "plan_pipeline"]


@dataclass(frozen=True, slots=True)
class PlannedStage:
    """A resolved stage: its spec and validated options."""

    role: Role
    spec: PluginSpec
    options: BaseModel

    @property
    def name(self) -> str:
        """The plugin name."""
        return self.spec.name

    def key(self, *upstream: str) -> str:
        """Cache key: this stage's identity and options, chained to ``upstream`` keys."""
        payload = {
            "role": self.role,
            "name": self.spec.name,
            "version": self.spec.version,
            "options": self.options.model_dump(mode="json"),
            "upstream": list(upstream),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        """Name, version, reference flag and resolved options, for config.yaml."""
        return {
            "name": self.spec.name,
            "version": self.spec.version,
            "reference_baseline": self.spec.reference,
            "options": self.options.model_dump(mode="json"),
        }


@dataclass(frozen=True, slots=True)
class PipelinePlan:
    """Everything a run will execute, checked."""

    generator: PlannedStage | None
    refiner: PlannedStage | None
    segmenter: PlannedStage | None
    evaluators: tuple[PlannedStage, ...]
    threshold_rules: tuple[ThresholdRule, ...]

    @property
    def output_kind(self) -> str:
        """Kind of the final maps: the segmenter's, else the generator's soft maps (probabilities)."""
        return self.segmenter.spec.io.output_kind if self.segmenter is not None else "probability"

    def describe(self) -> dict[str, Any]:
        """The resolved pipeline as plain data."""
        stages = {s.role: s.describe() for s in (self.generator, self.refiner, self.segmenter) if s is not None}
        stages["evaluators"] = [e.describe() for e in self.evaluators]
        stages["threshold_rules"] = [r.text for r in self.threshold_rules]
        return stages


def _stage(host: PluginHost, role: Role, stage: StageConfig | None) -> PlannedStage | None:
    if stage is None:
        return None
    spec = host.get(role, stage.name)
    return PlannedStage(role, spec, host.validate_options(role, stage.name, stage.options))


def _check_modalities(stage: PlannedStage | None, modalities: tuple[str, ...]) -> None:
    if stage is None:
        return
    io = stage.spec.io
    if io.modalities is not None and tuple(io.modalities) != tuple(modalities):
        raise ContractError(
            f"{stage.role} {stage.name!r} needs modalities {list(io.modalities)}, the run gives {list(modalities)}",
            hint="set --modality to match, e.g. " + " ".join(f"--modality {m}" for m in io.modalities),
        )
    if io.max_channels is not None and len(modalities) > io.max_channels:
        raise ContractError(
            f"{stage.role} {stage.name!r} accepts at most {io.max_channels} channel(s), the run gives "
            f"{len(modalities)} ({', '.join(modalities)})",
            hint="pass fewer --modality options",
        )


def plan_pipeline(config: RunConfig, host: PluginHost) -> PipelinePlan:
    """Resolve plugin names and options of ``config`` and check that the stages fit together.

    Raises:
        UnknownPluginError: a stage names no installed plugin.
        ConfigError: invalid plugin options or threshold rules.
        ContractError: the stages or modalities are incompatible.
    """
    pipeline = config.pipeline
    generator = _stage(host, "generator", pipeline.generator)
    refiner = _stage(host, "refiner", pipeline.refiner)
    segmenter = _stage(host, "segmenter", pipeline.segmenter)
    if segmenter is not None:
        segmenter_spec: SegmenterSpec = segmenter.spec  # type: ignore[assignment]
        if segmenter_spec.needs_pseudo_masks and generator is None:
            raise ContractError(
                f"segmenter {segmenter.name!r} trains on pseudo-masks but no generator is given",
                hint="add --generator NAME (see `wsad plugins`)",
            )
        if segmenter_spec.prompted_by_pseudo_masks and generator is None:
            raise ContractError(
                f"segmenter {segmenter.name!r} is prompted with pseudo-masks but no generator is given",
                hint="add --generator NAME (see `wsad plugins`)",
            )
        if not segmenter_spec.trains_on_pseudo_masks and not segmenter_spec.prompted_by_pseudo_masks and generator:
            raise ContractError(
                f"segmenter {segmenter.name!r} is unsupervised and would ignore generator {generator.name!r}",
                hint="drop --generator, or choose a segmenter that trains on pseudo-masks",
            )
    for stage in (generator, refiner, segmenter):
        _check_modalities(stage, config.data.modalities)

    evaluators, rules = plan_evaluation(config.evaluation, host)
    return PipelinePlan(generator, refiner, segmenter, evaluators, rules)


def plan_evaluation(
    evaluation: EvaluationConfig, host: PluginHost
) -> tuple[tuple[PlannedStage, ...], tuple[ThresholdRule, ...]]:
    """Resolve the evaluators and threshold rules of ``evaluation``.

    Raises:
        UnknownPluginError: an unknown protocol.
        ConfigError: invalid protocol options or threshold rules.
    """
    evaluators = []
    for protocol in evaluation.protocols:
        spec: EvaluatorSpec = host.get("evaluator", protocol)  # type: ignore[assignment]
        options = host.validate_options("evaluator", protocol, evaluation.protocol_options.get(protocol))
        evaluators.append(PlannedStage("evaluator", spec, options))
    unknown = set(evaluation.protocol_options) - set(evaluation.protocols)
    if unknown:
        raise ConfigError(
            f"options given for protocols that are not evaluated: {', '.join(sorted(unknown))}",
            hint="add them to the evaluated protocols (--protocol) or drop their options",
        )
    rules = tuple(parse_threshold_rule(text) for text in evaluation.threshold_rules)
    if len({r.text for r in rules}) != len(rules):
        raise ConfigError(f"duplicate threshold rules: {list(evaluation.threshold_rules)}")
    return tuple(evaluators), rules
