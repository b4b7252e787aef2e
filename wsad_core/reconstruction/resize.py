"""Moving slices between the pipeline's size and a method's internal square size."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["batch_to_size", "masks_to_size", "maps_to_size"]


def batch_to_size(images: np.ndarray, size: int | None, device: torch.device) -> torch.Tensor:
    """``(B, C, H, W)`` float32 images as a tensor on ``device``, bilinearly resized to ``size``².

    Down-sampling is anti-aliased (area-like for the 2x of 256 -> 128); ``None`` or the
    slices' own size returns them unchanged.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(device)
    if size is None or tuple(tensor.shape[-2:]) == (size, size):
        return tensor
    shrink = size < min(tensor.shape[-2:])
    return F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def masks_to_size(masks: np.ndarray, size: int | None, device: torch.device) -> torch.Tensor:
    """``(B, H, W)`` bool masks as ``(B, 1, size, size)`` bool: resized as fractions, kept where >= 0.5."""
    tensor = torch.from_numpy(np.ascontiguousarray(masks)).to(device)[:, None].float()
    if size is None or tuple(tensor.shape[-2:]) == (size, size):
        return tensor > 0.5
    shrink = size < min(tensor.shape[-2:])
    resized = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
    return resized >= 0.5


def maps_to_size(maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(N, h, w)`` float maps bilinearly resized to ``shape`` (float32; unchanged when equal)."""
    if maps.shape[1:] == tuple(shape):
        return maps.astype(np.float32, copy=False)
    tensor = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[:, None]
    resized = F.interpolate(tensor, size=shape, mode="bilinear", align_corners=False)
    return resized[:, 0].numpy()
