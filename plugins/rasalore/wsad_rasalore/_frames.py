"""Intensities and frames: 8-bit gamma images, the brain crop box, crop → resize and back (§6, §10).

The official loader works on 8-bit slices: gamma 2 on the 8-bit values, then a crop to the
bounding box of the non-zero rows and columns of the gamma image, ``[r_min:r_max,
c_min:c_max)`` (the last non-zero row and column excluded, as in the code), widened to
about 64 pixels when the brain has fewer non-zero rows or columns, then a bilinear
resize to the network size. wsad receives slices in [0, 1] (0 outside the brain), so
``v = x·255`` plays the role of the 8-bit slice.

Predictions live in that crop frame; :func:`uncrop` maps them back into the uncropped slice
frame: resize to the box's height and width and place at the box (0 elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["CropBox", "brain_box", "crop_resize", "gamma_8bit", "uncrop"]


@dataclass(frozen=True, slots=True)
class CropBox:
    """Rows ``[top, bottom)`` and columns ``[left, right)`` of a frame, already clamped to it."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def height(self) -> int:
        """Rows in the box."""
        return self.bottom - self.top

    @property
    def width(self) -> int:
        """Columns in the box."""
        return self.right - self.left

    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(top, bottom, left, right)``."""
        return self.top, self.bottom, self.left, self.right


def gamma_8bit(images: np.ndarray, gamma: float = 2.0, quantize: bool = True) -> np.ndarray:
    """8-bit style gamma image ``(v/255)^γ·255`` with ``v = x·255``, float32 in [0, 255].

    Args:
        images: intensities in [0, 1], any shape.
        gamma: exponent (§6: 2).
        quantize: truncate to integers before and after the gamma, like the code's uint8
            PNG and ``astype(uint8)`` (values below 16 then become 0 for γ = 2).
    """
    values = np.clip(images.astype(np.float32, copy=False), 0.0, 1.0) * np.float32(255.0)
    if quantize:
        values = np.floor(values)
    out = np.power(values / np.float32(255.0), np.float32(gamma)) * np.float32(255.0)
    return np.floor(out) if quantize else out


def brain_box(image: np.ndarray, min_extent: int = 64) -> CropBox | None:
    """The crop box of one (H, W) gamma image; ``None`` when it has no non-zero pixel.

    With at least ``min_extent`` non-zero rows and columns the box is ``[r_min, r_max) ×
    [c_min, c_max)``; otherwise both axes are widened by ``min_extent//2 - extent//2`` on
    each side, as the code does, and clamped to the frame (the code's negative indices
    would wrap around).
    """
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    if rows.size == 0:
        return None
    height, width = image.shape
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    if rows.size < min_extent or cols.size < min_extent:
        pad_r = min_extent // 2 - (r1 - r0) // 2
        pad_c = min_extent // 2 - (c1 - c0) // 2
        r0, r1, c0, c1 = r0 - pad_r, r1 + pad_r, c0 - pad_c, c1 + pad_c
    top, left = min(max(r0, 0), height - 1), min(max(c0, 0), width - 1)
    # max(..., top + 1): a one-pixel-thick brain with min_extent <= 1 would give an empty box.
    return CropBox(top, max(min(r1, height), top + 1), left, max(min(c1, width), left + 1))


def crop_resize(
    array: torch.Tensor, box: CropBox, size: int, *, binary: bool = False, round_values: bool = False
) -> torch.Tensor:
    """Crop a (C, H, W) tensor to ``box`` and resize it to ``size``² bilinearly.

    Down-sampling is anti-aliased, like PIL's ``BILINEAR`` resize in the official loader.

    Args:
        array: image or mask stack in one frame.
        box: the crop box in that frame.
        size: output side.
        binary: threshold the resized mask at 0.5 (the code's > 127.5 on 8-bit masks).
        round_values: round to integers (PIL returns uint8 images).
    """
    crop = array[:, box.top : box.bottom, box.left : box.right].float().unsqueeze(0)
    out = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
    if binary:
        return (out > 0.5).float()
    return out.round() if round_values else out


def uncrop(maps: torch.Tensor, boxes: list[CropBox | None], frame: tuple[int, int]) -> np.ndarray:
    """Map (N, o, o) crop-frame predictions back into (N, H, W) slice-frame maps (0 outside boxes).

    Args:
        maps: predictions at the network's output size, one per box.
        boxes: each slice's crop box (``None``: an empty slice, whose map stays 0).
        frame: ``(H, W)`` of the slices.
    """
    out = np.zeros((len(boxes), *frame), np.float32)
    for i, box in enumerate(boxes):
        if box is None:
            continue
        resized = F.interpolate(
            maps[i][None, None].float(),
            size=(box.height, box.width),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )[0, 0]
        out[i, box.top : box.bottom, box.left : box.right] = resized.clamp(0.0, 1.0).cpu().numpy()
    return out
