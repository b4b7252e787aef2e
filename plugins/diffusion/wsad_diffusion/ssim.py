"""Pixel-wise SSIM between a slice stack and its reconstruction, as SADM's unsupervised map (baselines.md §6.4).

The official evaluation calls torchmetrics' SSIM with ``sigma=1`` and ``return_full_image=True`` on each
96 x 96 x D volume: a Gaussian window of σ = 1 truncated to ``2 * int(3.5 σ + 0.5) + 1 = 9`` taps per axis and
normalised; the inputs reflected at the borders (``F.pad(mode="reflect")``, the edge not repeated: scipy's
``"mirror"``); ``data_range`` = the larger value range of the two volumes; K1 = 0.01, K2 = 0.03; the
population (not sample) variances. The window is separable, so it is applied axis by axis here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

__all__ = ["gaussian_window", "ssim_map"]

_K1, _K2 = 0.01, 0.03
_MIN_RANGE = 1e-6  # an all-constant pair (e.g. background-only slices) gets SSIM 1, not 0/0


def gaussian_window(sigma: float) -> np.ndarray:
    """The 1-D Gaussian window of torchmetrics: ``2 * int(3.5 σ + 0.5) + 1`` taps (9 for σ = 1), summing to 1."""
    size = 2 * int(3.5 * sigma + 0.5) + 1
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2
    window = np.exp(-0.5 * (offsets / sigma) ** 2)
    return window / window.sum()


def _smooth(array: np.ndarray, window: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    for axis in axes:
        array = ndimage.correlate1d(array, window, axis=axis, mode="mirror")
    return array


def ssim_map(
    first: np.ndarray, second: np.ndarray, *, sigma: float = 1.0, axes: Sequence[int] | None = None
) -> np.ndarray:
    """The SSIM of ``first`` and ``second`` at every element (float64, same shape), Gaussian window over ``axes``.

    Args:
        first: an image or stack, e.g. a volume ``(D, H, W)``.
        second: same shape.
        sigma: the window's σ (published 1: a 9-tap window).
        axes: the axes the window spans (default: all, i.e. 3-D SSIM of a volume).

    Raises:
        ValueError: the shapes differ.
    """
    if first.shape != second.shape:
        raise ValueError(f"SSIM of arrays of different shapes: {first.shape} and {second.shape}")
    x, y = first.astype(np.float64), second.astype(np.float64)
    axes = tuple(range(x.ndim)) if axes is None else tuple(axes)
    data_range = max(float(np.ptp(x)), float(np.ptp(y)), _MIN_RANGE)
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    window = gaussian_window(sigma)
    mu_x, mu_y = _smooth(x, window, axes), _smooth(y, window, axes)
    var_x = _smooth(x * x, window, axes) - mu_x**2
    var_y = _smooth(y * y, window, axes) - mu_y**2
    cov = _smooth(x * y, window, axes) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
