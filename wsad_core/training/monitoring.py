"""Numbers a ``train(monitor=...)`` callback may compute without ground truth: agreement with pseudo-masks."""

from __future__ import annotations

import numpy as np

__all__ = ["mean_slice_dice"]


def mean_slice_dice(scores: np.ndarray, masks: np.ndarray, min_pixels: float = 1) -> float:
    """Per-slice mean Dice of ``scores > 0.5`` against ``masks > 0.5``, over slices with ``>= min_pixels`` mask pixels.

    Args:
        scores: (N, H, W) maps.
        masks: (N, H, W) binary or soft masks in the same frame.
        min_pixels: slices whose mask has fewer pixels are not scored (at least 1: empty masks never count).

    Returns:
        The mean, or NaN when no slice qualifies.
    """
    truth = masks.reshape(len(masks), -1) > 0.5
    kept = np.flatnonzero(truth.sum(axis=1) >= max(min_pixels, 1))
    if kept.size == 0:
        return float("nan")
    predicted = scores.reshape(len(scores), -1)[kept] > 0.5
    truth = truth[kept]
    overlap = (predicted & truth).sum(axis=1)
    return float(np.mean(2 * overlap / (predicted.sum(axis=1) + truth.sum(axis=1))))
