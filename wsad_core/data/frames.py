"""Moving slice stacks between the model frame (size x size) and a volume's native frame.

Images are resized bilinearly with ``align_corners=False`` (pixel centres, as
``torch.nn.functional.interpolate`` and the RASALoRE loader do); boolean masks with
``nearest-exact``, the centre-aligned nearest neighbour. The pipeline brings predictions
back with :func:`to_native` before evaluation and NIfTI writing.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["resize_stack", "to_model", "to_native"]

_CHUNK = 64
Mode = Literal["bilinear", "nearest"]


def resize_stack(stack: np.ndarray, hw: tuple[int, int], *, mode: Mode | None = None) -> np.ndarray:
    """Resize ``(N, H, W)`` or ``(N, C, H, W)`` to spatial size ``hw``.

    Args:
        stack: float or bool slices.
        hw: target ``(H, W)``.
        mode: ``"bilinear"`` (default for floats) or ``"nearest"`` (default and only
            choice for bool, which stays bool).

    Returns:
        float32 (or bool) slices of shape ``(N, [C,] *hw)``; the input itself when the
        size already matches.
    """
    import torch
    import torch.nn.functional as F

    if stack.ndim not in (3, 4):
        raise ValueError(f"expected (N, H, W) or (N, C, H, W), got shape {stack.shape}")
    is_bool = stack.dtype == np.bool_
    mode = "nearest" if is_bool else (mode or "bilinear")
    out_hw = (int(hw[0]), int(hw[1]))
    if tuple(stack.shape[-2:]) == out_hw:
        return stack if is_bool else stack.astype(np.float32, copy=False)
    channels = stack.ndim == 4
    out = np.empty((stack.shape[0], *stack.shape[1:-2], *out_hw), dtype=np.bool_ if is_bool else np.float32)
    with torch.no_grad():
        for start in range(0, stack.shape[0], _CHUNK):
            part = torch.from_numpy(np.ascontiguousarray(stack[start : start + _CHUNK], dtype=np.float32))
            part = part if channels else part.unsqueeze(1)
            if mode == "nearest":
                resized = F.interpolate(part, size=out_hw, mode="nearest-exact")
            else:
                resized = F.interpolate(part, size=out_hw, mode="bilinear", align_corners=False)
            resized = resized if channels else resized.squeeze(1)
            out[start : start + _CHUNK] = resized.numpy() > 0.5 if is_bool else resized.numpy()
    return out


def to_native(maps: np.ndarray, native_hw: tuple[int, int], *, mode: Mode | None = None) -> np.ndarray:
    """Model-frame maps ``(N, s, s)`` → native frame ``(N, H0, W0)`` (bilinear for floats).

    Args:
        maps: float32 score maps (or bool masks).
        native_hw: the volume's in-plane shape ``(H0, W0)``.
        mode: override the interpolation.

    Returns:
        The resampled maps.
    """
    return resize_stack(maps, native_hw, mode=mode)


def to_model(maps: np.ndarray, size: int, *, mode: Mode | None = None) -> np.ndarray:
    """Native-frame maps ``(N, H0, W0)`` → model frame ``(N, size, size)``.

    Args:
        maps: float maps or bool masks.
        size: the model frame's side.
        mode: override the interpolation.

    Returns:
        The resampled maps.
    """
    return resize_stack(maps, (size, size), mode=mode)
