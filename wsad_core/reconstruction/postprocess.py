"""Post-processing of residual maps before thresholding (baselines.md §2, §3).

All functions take and return numpy stacks ``(N, H, W)`` in the method's internal
frame. 3-D operations group slices by volume (``case_ids``) and order them by their
axial index; the volume's available slices are treated as contiguous.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

__all__ = [
    "avgpool_erode",
    "by_volume",
    "erode",
    "median_2d",
    "median_3d",
    "volume_quantile",
]

# 4-connected 2-D structuring element applied per slice (scipy's default rank-1 cross).
_CROSS_PER_SLICE = np.zeros((3, 3, 3), bool)
_CROSS_PER_SLICE[1] = ndimage.generate_binary_structure(2, 1)


def by_volume(case_ids: Sequence[str], slice_indices: np.ndarray) -> Iterator[np.ndarray]:
    """Positions of each volume's slices, ordered by axial index."""
    cases = np.asarray(case_ids, dtype=object)
    for case in dict.fromkeys(case_ids):
        positions = np.flatnonzero(cases == case)
        yield positions[np.argsort(slice_indices[positions], kind="stable")]


def erode(masks: np.ndarray, iterations: int) -> np.ndarray:
    """Binary erosion of each slice by ``iterations`` steps of the 4-connected cross (0: unchanged)."""
    if iterations <= 0:
        return masks.copy()
    return ndimage.binary_erosion(masks, structure=_CROSS_PER_SLICE, iterations=iterations, border_value=0)


def avgpool_erode(masks: np.ndarray, kernel: int = 5, level: float = 0.95) -> np.ndarray:
    """DAE's erosion (§3): keep pixels whose ``kernel``² zero-padded neighbourhood is > ``level`` foreground."""
    tensor = torch.from_numpy(np.ascontiguousarray(masks, dtype=np.float32))[:, None]
    pooled = F.avg_pool2d(tensor, kernel_size=kernel, stride=1, padding=kernel // 2)
    return (pooled[:, 0] > level).numpy()


def median_2d(maps: np.ndarray, size: int) -> np.ndarray:
    """``size`` x ``size`` median of each slice, reflecting at the borders (``size`` <= 1: copy)."""
    if size <= 1:
        return maps.copy()
    return ndimage.median_filter(maps, size=(1, size, size), mode="reflect")


def median_3d(maps: np.ndarray, case_ids: Sequence[str], slice_indices: np.ndarray, size: int) -> np.ndarray:
    """``size``³ median within each volume (slices in axial order), reflecting at the borders."""
    if size <= 1:
        return maps.copy()
    out = np.empty_like(maps)
    for positions in by_volume(case_ids, slice_indices):
        out[positions] = ndimage.median_filter(maps[positions], size=size, mode="reflect")
    return out


def volume_quantile(
    images: np.ndarray, case_ids: Sequence[str], slice_indices: np.ndarray, quantile: float
) -> np.ndarray:
    """Per slice, the ``quantile`` of all pixels of its volume's slices, per channel: ``(N, C)``.

    Baur et al.'s hyperintensity prior takes the quantile over the whole volume, background
    included (``np.quantile(volume, 0.9)`` in the official evaluation).
    """
    out = np.zeros(images.shape[:2], np.float32)
    for positions in by_volume(case_ids, slice_indices):
        values = images[positions].transpose(1, 0, 2, 3).reshape(images.shape[1], -1)
        out[positions] = np.quantile(values, quantile, axis=1)[None]
    return out
