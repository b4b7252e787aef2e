"""Losses of AME-CAM's three stages (baselines.md §1)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["aggregation_loss", "multi_exit_bce", "nt_xent", "sim_max", "sim_min"]

_COS_LOW, _COS_HIGH = 5e-4, 0.9995  # §1: cosine similarities clamped before the logs


def nt_xent(first: torch.Tensor, second: torch.Tensor, temperature: float, normalize: bool = True) -> torch.Tensor:
    """SimCLR's NT-Xent over the ``2B`` views: each view's positive is its other view.

    Args:
        first: projections of the first views ``(B, D)``.
        second: projections of the second views ``(B, D)``.
        temperature: softmax temperature (§1: 0.07).
        normalize: cosine similarities (published SimCLR); ``False`` uses raw dot products
            as the official AME-CAM code does.
    """
    views = torch.cat([first, second]).float()
    if normalize:
        views = F.normalize(views, dim=1)
    logits = views @ views.T / temperature
    count = first.shape[0]
    logits = logits.masked_fill(torch.eye(2 * count, dtype=torch.bool, device=logits.device), float("-inf"))
    targets = torch.cat([torch.arange(count, 2 * count), torch.arange(count)]).to(logits.device)
    return F.cross_entropy(logits, targets)


def multi_exit_bce(logits: torch.Tensor, labels: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """``sum_i w_i * BCE(logit_i, y)`` over the four exits (§1: w = 0.25, 0.5, 0.75, 1)."""
    logits = logits.float()
    return sum(
        (w * F.binary_cross_entropy_with_logits(logits[:, i], labels) for i, w in enumerate(weights)),
        start=logits.new_zeros(()),
    )


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (F.normalize(a.float(), dim=1) @ F.normalize(b.float(), dim=1).T).clamp(_COS_LOW, _COS_HIGH)


def sim_max(embeddings: torch.Tensor, alpha: float) -> torch.Tensor:
    """Pull embeddings together: mean of ``-log(cos)`` weighted by ``exp(-alpha * (rank - 1))``.

    ``rank`` is the 0-based position of each similarity in its row sorted in descending
    order (the official code's convention: the self-similarity ranks first).
    """
    similarity = _cosine(embeddings, embeddings)
    order = similarity.argsort(dim=1, descending=True)
    rank = order.argsort(dim=1).float()
    return (-torch.log(similarity) * torch.exp(-alpha * (rank - 1))).mean()


def sim_min(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Push two sets apart: mean of ``-log(1 - cos)`` over all pairs."""
    return (-torch.log(1 - _cosine(first, second))).mean()


def aggregation_loss(grey: torch.Tensor, aggregated: torch.Tensor, alpha: float) -> torch.Tensor:
    """Stage 2 loss ``SimMax(fg) + SimMin(fg, bg) + SimMax(bg)`` (§1).

    ``fg`` = image x map and ``bg`` = image x (1 - map), flattened per image.
    """
    foreground = (grey * aggregated).flatten(1)
    background = (grey * (1 - aggregated)).flatten(1)
    return sim_max(foreground, alpha) + sim_min(foreground, background) + sim_max(background, alpha)
