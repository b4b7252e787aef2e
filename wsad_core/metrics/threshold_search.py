"""Choosing a threshold on the Dice statistic a protocol reports.

A threshold chosen on pooled Dice is not the best one for a per-slice mean Dice (small
lesions weigh as much as large ones), so ``val-best`` and ``oracle`` search each protocol's
own statistic. An evaluator may provide it fast through an optional method::

    def dice_curve(self, scores, reference, thresholds) -> tuple[np.ndarray, int]:
        '''The protocol's reported Dice (mean over its units) at each threshold, and the unit count.'''

The built-in protocols do; for any other evaluator the statistic is the mean of the
``dice`` rows :meth:`evaluate` returns, computed at a coarser set of candidates.

Candidates are quantiles of the in-brain scores and of the lesion pixels' scores of the
split that chooses (validation for ``val-best``, test for ``oracle``), plus, for the oracle,
the thresholds every other rule chose — so the oracle is never below them on the reported
statistic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from wsad_core.roles import EvaluationRequest

if TYPE_CHECKING:
    from wsad_core.types import MetricRow, ReferenceSlices

__all__ = [
    "candidate_thresholds",
    "dice_at_thresholds",
    "protocol_dice",
    "reported_dice",
    "search_threshold",
]

#: Quantiles taken from each of the two score populations (all in-brain pixels, lesion pixels).
CANDIDATES_PER_POPULATION = 128
#: Candidates for evaluators without ``dice_curve`` (each costs a full ``evaluate``).
FALLBACK_CANDIDATES = 24


def candidate_thresholds(
    scores: np.ndarray, reference: ReferenceSlices, *, per_population: int = CANDIDATES_PER_POPULATION
) -> np.ndarray:
    """Sorted unique candidate thresholds for ``scores`` of the slices of ``reference``.

    Quantiles of the in-brain scores and of the lesion pixels' scores, every distinct value
    when there are fewer, and the value just above the maximum (predict nothing).
    """
    brain = reference.brain_masks
    populations = [scores[brain] if brain.any() else scores.reshape(-1), scores[reference.masks]]
    grid = np.linspace(0.0, 1.0, per_population)
    parts = []
    for values in populations:
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            continue
        distinct = np.unique(values)
        parts.append(distinct if distinct.size <= per_population else np.quantile(values, grid))
    if not parts:
        return np.zeros(0)
    candidates = np.unique(np.concatenate(parts))
    top = np.nextafter(np.float32(candidates[-1]), np.float32(np.inf))
    return np.unique(np.append(candidates, float(top)))


def dice_at_thresholds(scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Dice of ``scores >= t`` against ``truth`` for every ``t`` (pooled over the given elements).

    The conventions of :mod:`wsad_core.metrics.counts`: 1 when prediction and truth are both empty.
    """
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    truth = np.asarray(truth, dtype=bool).reshape(-1)
    thresholds = np.asarray(thresholds, dtype=np.float32)
    ordered = np.sort(scores)
    positives = np.sort(scores[truth])
    predicted = ordered.size - np.searchsorted(ordered, thresholds, "left")
    true_positive = positives.size - np.searchsorted(positives, thresholds, "left")
    denominator = (predicted + positives.size).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(denominator == 0, 1.0, 2.0 * true_positive / denominator)
    return dice


def reported_dice(rows: Sequence[MetricRow]) -> float | None:
    """The statistic a protocol reports: mean of its ``dice`` rows with a value (``None`` without any)."""
    values = [row.value for row in rows if row.metric == "dice" and row.value is not None and np.isfinite(row.value)]
    return float(np.mean(values)) if values else None


def protocol_dice(
    evaluator: Any, scores: np.ndarray, reference: ReferenceSlices, thresholds: np.ndarray
) -> tuple[np.ndarray, int | None]:
    """The protocol's reported Dice at each threshold (``NaN`` where undefined) and its unit count."""
    curve = getattr(evaluator, "dice_curve", None)
    if callable(curve):
        values, units = curve(scores, reference, np.asarray(thresholds, dtype=np.float64))
        return np.asarray(values, dtype=np.float64), int(units)
    values = []
    units: int | None = None
    for threshold in thresholds:
        rows = evaluator.evaluate(EvaluationRequest(scores, reference, float(threshold), "search"))
        dice_rows = [row for row in rows if row.metric == "dice"]
        units = sum(1 for row in dice_rows if row.value is not None)
        value = reported_dice(dice_rows)
        values.append(np.nan if value is None else value)
    return np.asarray(values, dtype=np.float64), units


def search_threshold(
    evaluator: Any,
    scores: np.ndarray,
    reference: ReferenceSlices,
    *,
    include: Iterable[float] = (),
) -> tuple[float, float, int | None] | None:
    """``(threshold, statistic, units)`` maximising the protocol's reported Dice, or ``None``.

    ``None`` when the statistic is undefined at every candidate (no unit to score). Ties go to
    the largest threshold (the smallest prediction). ``include`` adds candidates (the other
    rules' thresholds, for the oracle).
    """
    fast = callable(getattr(evaluator, "dice_curve", None))
    per_population = CANDIDATES_PER_POPULATION if fast else FALLBACK_CANDIDATES // 2
    candidates = candidate_thresholds(scores, reference, per_population=per_population)
    extra = [float(t) for t in include if t is not None and np.isfinite(t)]
    candidates = np.unique(np.concatenate([candidates, np.asarray(extra, dtype=np.float64)]))
    if candidates.size == 0:
        return None
    values, units = protocol_dice(evaluator, scores, reference, candidates)
    if not np.isfinite(values).any():
        return None
    best = np.nanmax(values)
    index = int(np.flatnonzero(values == best)[-1])
    return float(candidates[index]), float(best), units


def with_extras(rows: Iterable[MetricRow], **extras: Any) -> list[MetricRow]:
    """``rows`` with ``extras`` added to each row's labelled columns."""
    return [dataclasses.replace(row, extras={**row.extras, **extras}) for row in rows]
