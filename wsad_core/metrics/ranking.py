"""Exact, vectorised AUROC and average precision (AUPRC) in torch, row by row.

Definitions match scikit-learn exactly (checked to 1e-6 in the tests):

* AUROC as ``roc_auc_score``: the Mann-Whitney statistic, tied scores count one half.
* AUPRC as ``average_precision_score``: step-wise ``Σ (Rₙ - Rₙ₋₁) Pₙ`` over the distinct
  score values (tie groups), not trapezoidal, not binned.

Undefined values are NaN here, and only here: a row without valid positives has neither
AUROC nor AP; a row without valid negatives has no AUROC, while its AP is 1 (precision is 1
at every threshold, as sklearn returns). The evaluators turn NaN into ``value=None``.

Each row costs one sort of its valid scores and one sort of its positives (see
:mod:`wsad_core.metrics._rank_kernels`); rows are processed ``chunk_size`` at a time to
bound memory. Inputs stay on their device: CUDA tensors use torch kernels, CPU tensors
numpy's sort through zero-copy views.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsad_core.errors import ContractError

if TYPE_CHECKING:
    import torch

__all__ = ["auroc_ap_1d", "ranking_metrics"]


def ranking_metrics(
    scores: torch.Tensor,
    targets: torch.Tensor,
    valid: torch.Tensor | None = None,
    *,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact AUROC and average precision of every row.

    Args:
        scores: ``(N, P)`` finite floating scores; higher means more anomalous.
        targets: ``(N, P)`` bool ground truth.
        valid: ``(N, P)`` bool; only ``True`` elements of a row take part (e.g. the brain).
            ``None`` uses every element.
        chunk_size: rows processed together; memory grows linearly with it.

    Returns:
        ``(auroc, ap)``: two ``(N,)`` float64 tensors on the device of ``scores``, NaN for
        rows where the metric is undefined (no valid positive; for AUROC also no valid
        negative).

    Raises:
        ContractError: shapes or dtypes do not match, or ``scores`` is not finite.
    """
    import torch

    scores, targets, valid = _check(scores, targets, valid)
    if chunk_size < 1:
        raise ContractError(f"ranking_metrics: chunk_size must be >= 1, got {chunk_size}")
    rows = scores.shape[0]
    auroc = torch.empty(rows, dtype=torch.float64, device=scores.device)
    ap = torch.empty_like(auroc)
    for start in range(0, rows, chunk_size):
        part = slice(start, start + chunk_size)
        chunk_valid = None if valid is None else valid[part]
        auroc[part], ap[part] = _rank_chunk(scores[part], targets[part], chunk_valid)
    return auroc, ap


def auroc_ap_1d(scores: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[float, float]:
    """AUROC and AP of one pooled set of elements (e.g. all in-brain pixels of a split).

    Any shape is flattened. Memory: one sorted copy of the scores plus the positives'
    scores; counts are int64 and sums float64, so tens of millions of elements are exact.

    Args:
        scores: finite floating scores of any shape.
        targets: bool ground truth of the same shape.
        valid: optional bool mask of the same shape; ``None`` uses every element.

    Returns:
        ``(auroc, ap)`` as floats, NaN where undefined (as in :func:`ranking_metrics`).

    Raises:
        ContractError: shapes or dtypes do not match, or ``scores`` is not finite.
    """
    flat_valid = None if valid is None else valid.reshape(1, -1)
    auroc, ap = ranking_metrics(scores.reshape(1, -1), targets.reshape(1, -1), flat_valid, chunk_size=1)
    return float(auroc[0]), float(ap[0])


def _rank_chunk(
    scores: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    from wsad_core.metrics._rank_kernels import rank_chunk_numpy, rank_chunk_torch

    if scores.device.type != "cpu":
        return rank_chunk_torch(scores, targets, valid)
    chunk_valid = None if valid is None else valid.contiguous().numpy()
    auroc, ap = rank_chunk_numpy(scores.contiguous().numpy(), targets.contiguous().numpy(), chunk_valid)
    return torch.from_numpy(auroc), torch.from_numpy(ap)


def _check(
    scores: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    import torch

    if scores.ndim != 2:
        raise ContractError(f"ranking_metrics: scores must have shape (N, P), got {tuple(scores.shape)}")
    for name, tensor in (("targets", targets), ("valid", valid)):
        if tensor is None:
            continue
        if tensor.shape != scores.shape:
            raise ContractError(
                f"ranking_metrics: {name} has shape {tuple(tensor.shape)}, scores {tuple(scores.shape)}"
            )
        if tensor.dtype != torch.bool:
            raise ContractError(f"ranking_metrics: {name} must be bool, got {tensor.dtype}")
        if tensor.device != scores.device:
            raise ContractError(f"ranking_metrics: {name} is on {tensor.device}, scores on {scores.device}")
    scores = scores.detach()
    if not scores.is_floating_point():
        scores = scores.to(torch.float64)
    elif scores.dtype in (torch.float16, torch.bfloat16):
        # Exact: every half/bfloat16 value is a float32 value, so ties and order are kept.
        scores = scores.to(torch.float32)
    return scores, targets, valid
