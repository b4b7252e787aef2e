"""Attention grids → soft maps in [0, 1] and binary pseudo-masks at the slice size (R§3.4, R§12 #7).

The official code quantises the raw attention to uint8 (weights are ≈ 0.01–0.1, so few levels
survive, and an all-below-1/255 map becomes 0 and then NaN after ``/max``), resizes bicubically to
224 and only binarises downstream with one of two "0.5" rules. Here the map stays float32, goes
straight to the slice size, and one named rule gives both outputs:

* ``max`` (stage-2 loader, faithful): ``soft = a / max(a)``, mask ``soft > 0.5``;
* ``minmax`` (MedSAM script): ``soft = (a − min) / (max − min)``, mask ``soft > 0.5``.

A map without contrast (max ≤ 0, or max = min for ``minmax``) gives an all-zero soft map and an empty mask.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["attention_to_masks"]

_EPS = 1e-12


def attention_to_masks(
    grids: torch.Tensor,
    size: tuple[int, int],
    *,
    normalisation: Literal["max", "minmax"],
    threshold: float,
    mode: Literal["bilinear", "bicubic"] = "bilinear",
) -> tuple[np.ndarray, np.ndarray]:
    """Soft maps ``(N, H, W)`` float32 in [0, 1] and masks ``(N, H, W)`` bool.

    Args:
        grids: ``(N, gh, gw)`` non-negative attention of the class token on the patches.
        size: ``(H, W)`` of the slices; the grid covers the whole slice.
        normalisation: ``"max"`` or ``"minmax"``.
        threshold: mask = soft > threshold.
        mode: interpolation of the grid.
    """
    if grids.shape[0] == 0:
        return np.zeros((0, *size), np.float32), np.zeros((0, *size), bool)
    up = F.interpolate(grids.float().unsqueeze(1), size=size, mode=mode, align_corners=False)[:, 0]
    up = up.clamp_min(0.0)  # bicubic may undershoot below the (positive) attention weights
    high = up.amax(dim=(1, 2), keepdim=True)
    low = torch.zeros_like(high) if normalisation == "max" else up.amin(dim=(1, 2), keepdim=True)
    span = high - low
    usable = span > _EPS * high.clamp_min(1.0)
    soft = torch.where(usable, (up - low) / span.clamp_min(_EPS), torch.zeros_like(up)).clamp(0.0, 1.0)
    soft_np = soft.cpu().numpy().astype(np.float32, copy=False)
    return soft_np, soft_np > threshold
