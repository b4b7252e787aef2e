"""Choose thresholds by the named rules and run every evaluator on the test maps.

Maps are brought back to each volume's native slice grid first, so that ``wsad run``
and ``wsad eval`` on the written NIfTI maps score exactly the same arrays.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from wsad_core.data.frames import to_native
from wsad_core.errors import ContractError
from wsad_core.metrics.threshold_search import reported_dice, search_threshold, with_extras
from wsad_core.metrics.thresholds import ORACLE
from wsad_core.pipeline._plugin_calls import CheckedEvaluator
from wsad_core.roles import EvaluationRequest

if TYPE_CHECKING:
    from wsad_core.data.assemble import SplitSlices
    from wsad_core.metrics.thresholds import ThresholdRule
    from wsad_core.pipeline.plan import PipelinePlan
    from wsad_core.pipeline.stages import ContextFactory
    from wsad_core.plugins import PluginHost
    from wsad_core.types import MetricRow, ReferenceSlices, ScoreMaps

__all__ = ["THRESHOLD_FREE", "Evaluation", "evaluate_maps", "evaluate_pseudo_masks", "native_maps"]

log = logging.getLogger("wsad.evaluate")

#: ``threshold_rule`` of rows from protocols whose metrics need no threshold.
THRESHOLD_FREE = "threshold-free"


@dataclass(slots=True)
class Evaluation:
    """Metric rows per target and how thresholds were chosen.

    Attributes:
        rows: target name (``"test"``, ``"pseudo-masks/train"``) → rows.
        thresholds: protocol → threshold rule → threshold used (``None`` when the rule was skipped).
        validation: what ``val-best`` rested on: ``patients`` and ``slices`` of the validation split.
        notes: why a rule or protocol was skipped, and warnings about fragile thresholds.
    """

    rows: dict[str, list[MetricRow]] = field(default_factory=dict)
    thresholds: dict[str, dict[str, float | None]] = field(default_factory=dict)
    validation: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def threshold_for(self, rule: str, protocol: str = "per-slice") -> float | None:
        """The threshold ``rule`` chose for ``protocol`` (else for any protocol), or ``None``."""
        if protocol in self.thresholds and self.thresholds[protocol].get(rule) is not None:
            return self.thresholds[protocol][rule]
        return next((chosen[rule] for chosen in self.thresholds.values() if chosen.get(rule) is not None), None)


def native_maps(maps: np.ndarray, split: SplitSlices) -> np.ndarray:
    """``maps`` (N, s, s) of ``split``'s slices resampled to their native (N, H0, W0) grid."""
    shapes = {case.native_shape[:2] for case in split.cases.values()}
    if len(shapes) != 1:
        raise ContractError(
            f"volumes have different in-plane shapes {sorted(shapes)}; evaluation needs one native grid",
            hint="resample the dataset to a common grid before running wsad",
        )
    return to_native(maps, shapes.pop())


def _threshold_free_rows(evaluator: Any, scores: np.ndarray, reference: ReferenceSlices) -> list[MetricRow] | None:
    """The rows of a protocol that needs no threshold (e.g. slice detection), else ``None``.

    Evaluators may declare ``threshold_free``; for others one evaluation tells (all rows
    without a threshold).
    """
    declared = getattr(evaluator, "threshold_free", None)
    if declared is False:
        return None
    rows = evaluator.evaluate(EvaluationRequest(scores, reference, 0.5, THRESHOLD_FREE))
    if declared or (rows and all(row.threshold is None for row in rows)):
        return [dataclasses.replace(row, threshold_rule=THRESHOLD_FREE) for row in rows]
    return None


def _choose(
    rule: ThresholdRule,
    protocol: str,
    evaluator: Any,
    kind: str,
    validation: tuple[np.ndarray, ReferenceSlices] | None,
    test: tuple[np.ndarray, ReferenceSlices],
    chosen: dict[str, float | None],
) -> tuple[float | None, str | None, int | None]:
    """(threshold, None, units), or (None, why the rule cannot be applied, None)."""
    if rule.name == "fixed":
        if kind != "probability":
            return None, f"{rule.text} skipped: the maps are unbounded scores, not probabilities", None
        return rule.value, None, None
    data = validation if rule.name == "val-best" else test
    where = "validation" if rule.name == "val-best" else "test"
    if data is None:
        return None, f"{rule.text} skipped: the split has no validation patients", None
    include = [t for t in chosen.values() if t is not None] if rule.is_oracle else []
    found = search_threshold(evaluator, data[0], data[1], include=include)
    if found is None:
        return None, f"{rule.text} skipped for {protocol}: no {where} unit with a defined Dice (no lesion?)", None
    threshold, _, units = found
    return threshold, None, units


def evaluate_maps(
    plan: PipelinePlan,
    host: PluginHost,
    *,
    test: SplitSlices,
    test_maps: ScoreMaps,
    validation: SplitSlices | None,
    validation_maps: ScoreMaps | None,
    make_context: ContextFactory,
    maps_are_native: bool = False,
) -> tuple[Evaluation, np.ndarray]:
    """Rows of every (protocol, threshold rule) on the test split, and the native test maps.

    Each protocol gets its own thresholds: ``val-best`` and ``oracle`` maximise the Dice
    statistic that protocol reports (:mod:`wsad_core.metrics.threshold_search`); the oracle
    is searched last, over candidates that include the other rules' thresholds, and is
    checked against them on the reported values. Maps are in the model frame unless
    ``maps_are_native`` (maps read from NIfTI files).
    """
    evaluation = Evaluation()
    test_native = test_maps.scores if maps_are_native else native_maps(test_maps.scores, test)
    val_pair = None
    if validation is not None and validation_maps is not None:
        val_pair = (native_maps(validation_maps.scores, validation), validation.reference)
        evaluation.validation = {
            "patients": len(dict.fromkeys(validation.reference.case_ids)),
            "slices": len(validation.reference),
        }
    rules = sorted(plan.threshold_rules, key=lambda rule: rule.is_oracle)  # the oracle bounds the others: last
    rows: list[MetricRow] = []
    warned = False
    for planned in plan.evaluators:
        created = host.create("evaluator", planned.name, planned.options, make_context(planned, None))
        evaluator = CheckedEvaluator(created, planned.name)
        free = _threshold_free_rows(evaluator, test_native, test.reference)
        if free is not None:
            rows.extend(free)
            continue
        chosen: dict[str, float | None] = {}
        by_rule: dict[str, list[MetricRow]] = {}
        for rule in rules:
            threshold, why, units = _choose(
                rule, planned.name, evaluator, test_maps.kind, val_pair, (test_native, test.reference), chosen
            )
            chosen[rule.text] = threshold
            if why is not None:
                if why not in evaluation.notes:
                    evaluation.notes.append(why)
                    log.warning(why)
                continue
            log.info("threshold %s for %s = %.4g", rule.text, planned.name, threshold)
            request = EvaluationRequest(test_native, test.reference, float(threshold), rule.text)  # type: ignore[arg-type]
            produced = evaluator.evaluate(request)
            extras: dict[str, Any] = {"oracle": rule.is_oracle}
            if rule.name == "val-best":
                extras.update(
                    n_val_patients=evaluation.validation.get("patients", 0), n_val_units=-1 if units is None else units
                )
                if evaluation.validation.get("patients") == 1 and not warned:
                    warned = True
                    warning = (
                        "val-best rests on a single validation patient "
                        f"({evaluation.validation.get('slices', 0)} slices): its threshold can be far from the "
                        "best for other patients; use more validation patients (data.split.min_validation_patients)"
                    )
                    evaluation.notes.append(warning)
                    log.warning(warning)
            by_rule[rule.text] = with_extras(produced, **extras)
        by_rule = _bound_oracle(evaluator, by_rule, chosen, test_native, test.reference)
        evaluation.thresholds[planned.name] = {rule: chosen.get(rule) for rule in chosen}
        for produced in by_rule.values():
            rows.extend(produced)
    evaluation.rows["test"] = rows
    return evaluation, test_native


def _bound_oracle(
    evaluator: Any,
    by_rule: dict[str, list[MetricRow]],
    chosen: dict[str, float | None],
    scores: np.ndarray,
    reference: ReferenceSlices,
) -> dict[str, list[MetricRow]]:
    """Make sure the oracle's reported Dice is at least every other rule's (it searched them too).

    Only float rounding or an evaluator whose ``dice_curve`` disagrees with ``evaluate`` can
    break it; then the oracle takes the better rule's threshold.
    """
    if ORACLE not in by_rule:
        return by_rule
    oracle_value = reported_dice(by_rule[ORACLE])
    best_rule, best_value = None, oracle_value
    for rule, produced in by_rule.items():
        value = reported_dice(produced)
        if rule != ORACLE and value is not None and (best_value is None or value > best_value):
            best_rule, best_value = rule, value
    if best_rule is None:
        return by_rule
    log.warning("oracle below %s on the reported Dice: it takes %s's threshold", best_rule, best_rule)
    threshold = float(chosen[best_rule])  # type: ignore[arg-type]
    chosen[ORACLE] = threshold
    produced = evaluator.evaluate(EvaluationRequest(scores, reference, threshold, ORACLE))
    return {**by_rule, ORACLE: with_extras(produced, oracle=True)}


def evaluate_pseudo_masks(
    plan: PipelinePlan,
    host: PluginHost,
    *,
    soft_maps: np.ndarray,
    reference: ReferenceSlices,
    train: SplitSlices,
    make_context: ContextFactory,
) -> list[MetricRow]:
    """Diagnostic: the per-slice protocol on the training pseudo-masks' soft maps at 0.5."""
    per_slice = next((e for e in plan.evaluators if e.name == "per-slice"), None)
    if per_slice is None:
        return []
    created = host.create("evaluator", per_slice.name, per_slice.options, make_context(per_slice, None))
    evaluator = CheckedEvaluator(created, per_slice.name)
    request = EvaluationRequest(native_maps(soft_maps, train), reference, 0.5, "fixed:0.5")
    return list(evaluator.evaluate(request))
