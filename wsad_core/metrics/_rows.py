"""Helpers shared by the built-in evaluators: request checks and metric-row building."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from wsad_core.errors import ContractError
from wsad_core.roles import EvaluationRequest
from wsad_core.types import MetricRow

__all__ = ["THRESHOLD_FREE", "checked_arrays", "unit_rows", "value_or_none"]

THRESHOLD_FREE: frozenset[str] = frozenset({"auroc", "auprc"})
"""Metrics that do not depend on the binarisation threshold (their rows carry ``threshold=None``)."""


def checked_arrays(request: EvaluationRequest, protocol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scores, masks, brain_masks)`` of a request after checking they fit together.

    Args:
        request: the evaluation request.
        protocol: evaluator name, for the error message.

    Returns:
        ``scores`` as ``(N, H, W)`` float32, the lesion masks and the brain masks.

    Raises:
        ContractError: the maps do not match the reference, or are not finite.
    """
    scores = np.asarray(request.scores)
    masks = request.reference.masks
    if scores.shape != masks.shape:
        raise ContractError(
            f"{protocol}: scores have shape {scores.shape} but the reference masks {masks.shape}",
            hint="resample the maps to the native slice grid before evaluation",
        )
    if not np.issubdtype(scores.dtype, np.floating):
        raise ContractError(f"{protocol}: scores must be floating point, got {scores.dtype}")
    if not math.isfinite(request.threshold):
        raise ContractError(f"{protocol}: threshold must be finite, got {request.threshold}")
    return scores.astype(np.float32, copy=False), masks, request.reference.brain_masks


def value_or_none(value: float) -> float | None:
    """``None`` for NaN (an undefined metric), else the value as a float."""
    value = float(value)
    return None if math.isnan(value) else value


def unit_rows(
    protocol: str,
    request: EvaluationRequest,
    *,
    unit: str,
    case_id: str,
    slice_index: int | None,
    values: Mapping[str, float | None],
    extras: Mapping[str, float | int | str],
) -> list[MetricRow]:
    """One :class:`MetricRow` per metric of one unit.

    Args:
        protocol: evaluator name.
        request: the request (threshold and rule are copied into the rows).
        unit: ``"slice"``, ``"volume"`` or ``"pooled"``.
        case_id: the volume, ``"*"`` for pooled units.
        slice_index: axial index for slice units.
        values: metric name to value (``None`` when undefined).
        extras: labelled columns shared by the unit's rows.

    Returns:
        The rows, in the order of ``values``.
    """
    return [
        MetricRow(
            protocol=protocol,
            unit=unit,
            case_id=case_id,
            slice_index=slice_index,
            metric=metric,
            value=value,
            threshold_rule=request.threshold_rule,
            threshold=None if metric in THRESHOLD_FREE else float(request.threshold),
            extras=dict(extras),
        )
        for metric, value in values.items()
    ]
