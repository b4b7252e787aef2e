"""Confusion counts at a threshold and the overlap metrics derived from them.

Prediction is ``score >= threshold`` everywhere (shared/docs/evaluation.md §1; RASALoRE
uses ``> 0.5`` for its Dice only, which differs only for scores exactly at 0.5).

Defined values for empty cases, so that no metric is ever NaN:

========== ============================ ==================================================
metric     formula                      when the denominator is 0
========== ============================ ==================================================
dice       2TP / (2TP + FP + FN)        1: prediction and truth are both empty
jaccard    TP / (TP + FP + FN)          1: prediction and truth are both empty
precision  TP / (TP + FP)               nothing predicted: 1 if truth is empty, else 0
recall     TP / (TP + FN)               truth empty: 1 if nothing predicted, else 0
specificity TN / (TN + FP)              1: there are no negatives
========== ============================ ==================================================

A non-empty denominator always gives the plain formula, e.g. Dice is 0 when the truth is
empty and something is predicted. Protocols that exclude empty-truth units (the per-slice
protocol) never meet the first four conventions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wsad_core.errors import ContractError

if TYPE_CHECKING:
    import torch

__all__ = ["COUNT_METRICS", "Counts", "confusion_counts", "count_metrics", "counts_from_masks"]

COUNT_METRICS: tuple[str, ...] = ("dice", "jaccard", "precision", "recall", "specificity")
"""Names of the metrics :func:`count_metrics` returns, in reporting order."""


@dataclass(frozen=True, slots=True)
class Counts:
    """Confusion counts of each row, ``(N,)`` int64 tensors.

    Attributes:
        tp: predicted and true.
        fp: predicted, not true.
        fn: true, not predicted.
        tn: neither.
    """

    tp: torch.Tensor
    fp: torch.Tensor
    fn: torch.Tensor
    tn: torch.Tensor


def confusion_counts(
    scores: torch.Tensor,
    targets: torch.Tensor,
    threshold: float | torch.Tensor,
    valid: torch.Tensor | None = None,
) -> Counts:
    """TP, FP, FN and TN per row for the prediction ``scores >= threshold``.

    Args:
        scores: ``(N, ...)`` scores; every dimension after the first is counted over.
        targets: bool ground truth of the same shape.
        threshold: one threshold, or an ``(N,)`` tensor with one per row.
        valid: optional bool mask of the same shape; only ``True`` elements are counted.

    Returns:
        The :class:`Counts` of each of the ``N`` rows, on the device of ``scores``.

    Raises:
        ContractError: shapes or dtypes do not match.
    """
    import torch

    if scores.ndim < 2:
        raise ContractError(f"confusion_counts: scores must have shape (N, ...), got {tuple(scores.shape)}")
    for name, tensor in (("targets", targets), ("valid", valid)):
        if tensor is not None and (tensor.shape != scores.shape or tensor.dtype != torch.bool):
            raise ContractError(
                f"confusion_counts: {name} must be bool of shape {tuple(scores.shape)}, "
                f"got {tensor.dtype} {tuple(tensor.shape)}"
            )
    if isinstance(threshold, torch.Tensor) and threshold.ndim == 1:
        threshold = threshold.to(scores.device).reshape(-1, *([1] * (scores.ndim - 1)))
    return counts_from_masks(scores >= threshold, targets, valid)


def counts_from_masks(predicted: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None = None) -> Counts:
    """TP, FP, FN and TN per row of a binary prediction (e.g. after a component filter).

    Args:
        predicted: ``(N, ...)`` bool prediction.
        targets: bool ground truth of the same shape.
        valid: optional bool mask of the same shape; only ``True`` elements are counted.

    Returns:
        The :class:`Counts` of each of the ``N`` rows.

    Raises:
        ContractError: shapes or dtypes do not match.
    """
    import torch

    for name, tensor in (("predicted", predicted), ("targets", targets), ("valid", valid)):
        if tensor is not None and (tensor.shape != predicted.shape or tensor.dtype != torch.bool or tensor.ndim < 2):
            raise ContractError(
                f"counts_from_masks: {name} must be bool of shape (N, ...) = {tuple(predicted.shape)}, "
                f"got {tensor.dtype} {tuple(tensor.shape)}"
            )
    rows = predicted.shape[0]
    predicted = predicted.flatten(1)
    truth = targets.flatten(1)
    if valid is None:
        n_valid = torch.full((rows,), predicted.shape[1], dtype=torch.int64, device=predicted.device)
    else:
        mask = valid.flatten(1)
        predicted = predicted & mask
        truth = truth & mask
        n_valid = _count(mask)
    tp = _count(predicted & truth)
    fp = _count(predicted) - tp
    fn = _count(truth) - tp
    return Counts(tp=tp, fp=fp, fn=fn, tn=n_valid - tp - fp - fn)


def count_metrics(counts: Counts) -> dict[str, torch.Tensor]:
    """Dice, Jaccard, precision, recall and specificity of each row, never NaN.

    Args:
        counts: confusion counts from :func:`confusion_counts`.

    Returns:
        ``{name: (N,) float64 tensor}`` for the names in :data:`COUNT_METRICS`, using the
        conventions of the module docstring where a denominator is 0.
    """
    import torch

    tp, fp, fn, tn = (c.to(torch.float64) for c in (counts.tp, counts.fp, counts.fn, counts.tn))
    one = torch.ones_like(tp)
    zero = torch.zeros_like(tp)
    nothing_predicted_right = torch.where(fn == 0, one, zero)
    nothing_true_right = torch.where(fp == 0, one, zero)
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, one),
        "jaccard": _ratio(tp, tp + fp + fn, one),
        "precision": _ratio(tp, tp + fp, nothing_predicted_right),
        "recall": _ratio(tp, tp + fn, nothing_true_right),
        "specificity": _ratio(tn, tn + fp, one),
    }


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.where(denominator > 0, numerator / denominator.clamp_min(1), empty)


def _count(mask: torch.Tensor) -> torch.Tensor:
    import torch

    if mask.device.type == "cpu":
        # numpy's count_nonzero is about 10x faster than torch's bool/uint8 sums on CPU.
        return torch.from_numpy(np.count_nonzero(mask.contiguous().numpy(), axis=1).astype(np.int64, copy=False))
    return mask.sum(dim=1, dtype=torch.int64)
