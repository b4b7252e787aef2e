"""Choose thresholds by the named rules and run every evaluator on the test maps.

Maps are brought back to each volume's native slice grid first, so that ``wsad run``
and ``wsad eval`` on the written NIfTI maps score exactly the same arrays.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from wsad_core.data.frames import to_native
from wsad_core.errors import ContractError
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
        thresholds: threshold rule → threshold used (``None`` when the rule was skipped).
        notes: why a rule or protocol was skipped.
    """

    rows: dict[str, list[MetricRow]] = field(default_factory=dict)
    thresholds: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def native_maps(maps: np.ndarray, split: SplitSlices) -> np.ndarray:
    """``maps`` (N, s, s) of ``split``'s slices resampled to their native (N, H0, W0) grid."""
    shapes = {case.native_shape[:2] for case in split.cases.values()}
    if len(shapes) != 1:
        raise ContractError(
            f"volumes have different in-plane shapes {sorted(shapes)}; evaluation needs one native grid",
            hint="resample the dataset to a common grid before running wsad",
        )
    return to_native(maps, shapes.pop())


def _pooled_in_brain(scores: np.ndarray, reference: ReferenceSlices) -> tuple[np.ndarray, np.ndarray]:
    return scores[reference.brain_masks], reference.masks[reference.brain_masks]


def _choose_threshold(
    rule: ThresholdRule,
    kind: str,
    validation: tuple[np.ndarray, ReferenceSlices] | None,
    test: tuple[np.ndarray, ReferenceSlices],
) -> tuple[float | None, str | None]:
    """(threshold, None), or (None, why the rule cannot be applied)."""
    import torch

    from wsad_core.metrics.thresholds import best_dice_threshold

    if rule.name == "fixed":
        if kind != "probability":
            return None, f"{rule.text} skipped: the maps are unbounded scores, not probabilities"
        return rule.value, None
    data = validation if rule.name == "val-best" else test
    if data is None:
        return None, f"{rule.text} skipped: the split has no validation patients"
    scores, truth = _pooled_in_brain(*data)
    if not truth.any():
        where = "validation" if rule.name == "val-best" else "test"
        return None, f"{rule.text} skipped: no lesion pixels in the {where} patients"
    threshold, _ = best_dice_threshold(torch.from_numpy(scores), torch.from_numpy(truth))
    return float(threshold), None


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

    Maps are in the model frame unless ``maps_are_native`` (maps read from NIfTI files).
    """
    evaluation = Evaluation()
    test_native = test_maps.scores if maps_are_native else native_maps(test_maps.scores, test)
    val_pair = None
    if validation is not None and validation_maps is not None:
        val_pair = (native_maps(validation_maps.scores, validation), validation.reference)
    evaluators = {e.name: host.create("evaluator", e.name, e.options, make_context(e, None)) for e in plan.evaluators}
    rows: list[MetricRow] = []
    for rule in plan.threshold_rules:
        threshold, why = _choose_threshold(rule, test_maps.kind, val_pair, (test_native, test.reference))
        evaluation.thresholds[rule.text] = threshold
        if why is not None:
            evaluation.notes.append(why)
            log.warning(why)
            continue
        log.info("threshold %s = %.4g", rule.text, threshold)
        request = EvaluationRequest(test_native, test.reference, float(threshold), rule.text)  # type: ignore[arg-type]
        for name, evaluator in list(evaluators.items()):
            produced = evaluator.evaluate(request)
            if produced and all(row.threshold is None for row in produced):
                # A threshold-free protocol (e.g. slice detection) gives the same rows under
                # every rule: report it once.
                produced = [dataclasses.replace(row, threshold_rule=THRESHOLD_FREE) for row in produced]
                del evaluators[name]
            rows.extend(produced)
    evaluation.rows["test"] = rows
    return evaluation, test_native


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
    evaluator = host.create("evaluator", per_slice.name, per_slice.options, make_context(per_slice, None))
    request = EvaluationRequest(native_maps(soft_maps, train), reference, 0.5, "fixed:0.5")
    return list(evaluator.evaluate(request))
