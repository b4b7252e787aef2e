"""Post-processing of anomaly maps and masks before scoring (scipy.ndimage, numpy in/out).

The baselines post-process before thresholding (shared/docs/evaluation.md §2): a median
filter (2-D 5x5 per slice, or 3-D 5³/7³), erosion of the brain mask, and a
connected-component filter on the binarised volume. Filters use scipy's default border
mode ``reflect``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage

from wsad_core.errors import ConfigError, ContractError

__all__ = ["erode_mask", "median_filter_slices", "median_filter_volume", "remove_small_components"]


def median_filter_slices(maps: np.ndarray, size: int) -> np.ndarray:
    """2-D median filter of each slice of a stack, slices kept independent.

    Args:
        maps: ``(N, H, W)`` maps.
        size: window side in pixels; ``0`` or ``1`` returns an unfiltered copy.

    Returns:
        The filtered ``(N, H, W)`` maps, same dtype.

    Raises:
        ConfigError: ``size`` is negative.
        ContractError: ``maps`` is not 3-D.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ContractError(f"median_filter_slices: maps must have shape (N, H, W), got {maps.shape}")
    size = _check_size("median size", size)
    if size <= 1:
        return maps.copy()
    return ndimage.median_filter(maps, size=(1, size, size))


def median_filter_volume(volume: np.ndarray, size: int) -> np.ndarray:
    """3-D median filter with a cubic window.

    Args:
        volume: a 3-D array, e.g. ``(D, H, W)``.
        size: window side in voxels; ``0`` or ``1`` returns an unfiltered copy.

    Returns:
        The filtered volume, same shape and dtype.

    Raises:
        ConfigError: ``size`` is negative.
        ContractError: ``volume`` is not 3-D.
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ContractError(f"median_filter_volume: volume must be 3-D, got {volume.shape}")
    size = _check_size("median size", size)
    if size <= 1:
        return volume.copy()
    return ndimage.median_filter(volume, size=size)


def remove_small_components(
    mask: np.ndarray, min_size: int, connectivity: Literal["full", "face"] = "full"
) -> np.ndarray:
    """Drop connected components with fewer than ``min_size`` pixels/voxels.

    To reproduce "components of ≤ 7 voxels removed" (Behrendt et al.), use ``min_size=8``.

    Args:
        mask: 2-D or 3-D bool mask.
        min_size: smallest component kept; ``0`` or ``1`` keeps everything.
        connectivity: ``"full"`` (8-/26-neighbourhood, scipy.ndimage.label with a full
            structure, as in evaluation.md §3.3) or ``"face"`` (4-/6-neighbourhood).

    Returns:
        The filtered bool mask.

    Raises:
        ConfigError: ``min_size`` is negative or ``connectivity`` unknown.
        ContractError: ``mask`` is not a 2-D or 3-D bool array.
    """
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.ndim not in (2, 3):
        raise ContractError(f"remove_small_components: mask must be 2-D or 3-D bool, got {mask.dtype} {mask.shape}")
    min_size = _check_size("min_component_size", min_size)
    if connectivity not in ("full", "face"):
        raise ConfigError(f"unknown connectivity {connectivity!r}", hint="use 'full' or 'face'")
    if min_size <= 1 or not mask.any():
        return mask.copy()
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim if connectivity == "full" else 1)
    labels, _ = ndimage.label(mask, structure=structure)
    keep = np.bincount(labels.ravel()) >= min_size
    keep[0] = False
    return keep[labels]


def erode_mask(mask: np.ndarray, iterations: int) -> np.ndarray:
    """Binary erosion of a (brain) mask, ``iterations`` steps of the face-connected cross.

    Outside the array counts as background, so a mask touching the border shrinks there.

    Args:
        mask: bool mask of any dimension.
        iterations: erosion steps; ``0`` returns a copy (scipy would erode until nothing
            changes).

    Returns:
        The eroded bool mask.

    Raises:
        ConfigError: ``iterations`` is negative.
    """
    mask = np.asarray(mask, dtype=bool)
    iterations = _check_size("erosion iterations", iterations)
    if iterations == 0:
        return mask.copy()
    return ndimage.binary_erosion(mask, iterations=iterations)


def _check_size(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)
