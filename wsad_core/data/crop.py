"""RASALoRE's crop frame: where the official code computes every metric (rasalore.md §6, §10).

The official ``test.py`` crops each slice to the bounding box of the non-zero rows and
columns of its gamma image (per-slice min-max to 8 bits, then ``(v/255)²·255`` truncated, so
pixels below 16/255 of the slice maximum are 0), ``[r_min:r_max, c_min:c_max)`` with the last
non-zero row and column excluded, widened to about 64 pixels when the brain is smaller. The
ground truth goes into that frame by crop → 128² (bilinear, > 127.5) → 256² (bilinear, > 0),
the prediction lives there at 256². :func:`official_crop_boxes` finds the boxes on the raw
native slices; :func:`maps_to_crop_frame` and :func:`masks_to_crop_frame` bring native-frame
arrays into that frame, so any method can be scored as the paper scored RASALoRE.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CROP_SIZE", "NO_BOX", "maps_to_crop_frame", "masks_to_crop_frame", "official_crop_boxes"]

#: Side of the crop frame (the network's 256² output).
CROP_SIZE = 256
#: Side of the intermediate ground-truth resize (the network's 128² input).
_INPUT_SIZE = 128
#: Row of a slice without any non-zero pixel.
NO_BOX = (-1, -1, -1, -1)
_MIN_EXTENT = 64


def official_crop_boxes(raw: np.ndarray, *, gamma: float = 2.0, min_extent: int = _MIN_EXTENT) -> np.ndarray:
    """``(S, 4)`` int32 boxes ``(top, bottom, left, right)`` of raw ``(S, H, W)`` native slices.

    Rows of slices without a non-zero gamma pixel are :data:`NO_BOX`.
    """
    raw = np.asarray(raw, dtype=np.float64)
    boxes = np.full((raw.shape[0], 4), -1, dtype=np.int32)
    height, width = raw.shape[1:]
    for i, plane in enumerate(raw):
        low, high = float(plane.min()), float(plane.max())
        if high <= low:
            continue
        eight_bit = np.floor((plane - low) / (high - low) * 255.0)  # the PNG export's uint8 cast
        gamma_image = np.floor(np.power(eight_bit / 255.0, gamma) * 255.0)
        rows = np.flatnonzero(gamma_image.any(axis=1))
        cols = np.flatnonzero(gamma_image.any(axis=0))
        if rows.size == 0:
            continue
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
        if rows.size < min_extent or cols.size < min_extent:
            pad_r, pad_c = min_extent // 2 - (r1 - r0) // 2, min_extent // 2 - (c1 - c0) // 2
            r0, r1, c0, c1 = r0 - pad_r, r1 + pad_r, c0 - pad_c, c1 + pad_c
        top, left = min(max(r0, 0), height - 1), min(max(c0, 0), width - 1)
        boxes[i] = (top, max(min(r1, height), top + 1), left, max(min(c1, width), left + 1))
    return boxes


def _resize(stack: np.ndarray, size: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32))[None, None]
    # PIL's bilinear resize, which the official loader uses, is anti-aliased when it shrinks.
    return F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0, 0].numpy()


def maps_to_crop_frame(maps: np.ndarray, boxes: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Native ``(N, H, W)`` maps cropped to each box and resized to ``size``² (bilinear); 0 where no box."""
    out = np.zeros((len(maps), size, size), np.float32)
    for i, (top, bottom, left, right) in enumerate(np.asarray(boxes)):
        if top >= 0:
            out[i] = _resize(maps[i, top:bottom, left:right], size)
    return out


def masks_to_crop_frame(masks: np.ndarray, boxes: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Native ``(N, H, W)`` bool masks into the crop frame as ``test.py`` does: 128² (> 0.5), then 256² (> 0)."""
    out = np.zeros((len(masks), size, size), bool)
    for i, (top, bottom, left, right) in enumerate(np.asarray(boxes)):
        if top < 0:
            continue
        small = _resize(masks[i, top:bottom, left:right].astype(np.float32), _INPUT_SIZE) > 0.5
        out[i] = _resize(small.astype(np.float32), size) > 0.0
    return out
