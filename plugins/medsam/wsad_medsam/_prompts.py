"""Prompts from pseudo-masks: tight boxes, seeded jitter, random points, RASALoRE's frame defect.

Everything here works in the slice frame with the conventions of :mod:`wsad_medsam._geometry`
(boxes inclusive ``x0, y0, x1, y1``; points ``(x, y)`` at pixel centres). An empty mask gives no prompt.
Randomness (jitter, points) comes from a generator per slice seeded by the run's seed and the slice's
content, so results do not depend on batch order or on which other slices are processed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from wsad_medsam._geometry import RASALORE_BOX_FRAME_BUG

__all__ = [
    "SlicePrompts",
    "component_boxes",
    "jitter_box",
    "make_prompts",
    "minmax_mask",
    "sample_points",
    "slice_rng",
]

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
_STREAM = 0x6D656473  # "meds": keeps these draws apart from other users of the run seed


@dataclass(frozen=True, slots=True)
class SlicePrompts:
    """The prompts of one slice, all answered from one image embedding.

    Attributes:
        boxes: ``(K, 4)`` float64 boxes in the slice frame (used for box prompts; points lie inside them).
        points: ``(K, P, 2)`` float64 positive points in the slice frame, or ``None`` for box prompts.
    """

    boxes: np.ndarray
    points: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


def slice_rng(seed: int, content: bytes) -> np.random.Generator:
    """A generator for one slice, seeded from the run's ``seed`` and the slice's ``content``."""
    digest = np.frombuffer(hashlib.sha256(content).digest()[:16], dtype=np.uint32)
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, _STREAM, *digest.tolist()]))


def minmax_mask(soft: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """RASALoRE's MedSAM-script rule: the map min-maxed per slice, ``> threshold``; empty without contrast.

    Args:
        soft: ``(H, W)`` or ``(N, H, W)`` soft maps (one slice per leading index).
        threshold: on the min-maxed map (the script: 0.5).
    """
    soft = np.asarray(soft, dtype=np.float64)
    axes = (-2, -1)
    low, high = soft.min(axis=axes, keepdims=True), soft.max(axis=axes, keepdims=True)
    span = high - low
    scaled = np.divide(soft - low, span, out=np.zeros_like(soft), where=span > 0)
    return scaled > threshold


def _tight_box(mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.asarray([cols[0], rows[0], cols[-1], rows[-1]], dtype=np.int64)


def component_boxes(mask: np.ndarray, box_from: str, max_boxes: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """Boxes of ``mask`` and the region each box was taken from.

    Args:
        mask: ``(H, W)`` bool pseudo-mask.
        box_from: ``"largest"`` (largest 8-connected component; ties: first in raster order), ``"all"``
            (every foreground pixel) or ``"each"`` (one box per component, largest first).
        max_boxes: cap for ``"each"``.

    Returns:
        ``[(box, region), ...]`` with inclusive int boxes; empty for an empty mask.
    """
    if not mask.any():
        return []
    if box_from == "all":
        return [(_tight_box(mask), mask)]
    labels, count = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    order = np.argsort(-sizes, kind="stable")  # stable: equal sizes keep raster order
    keep = order[:1] if box_from == "largest" else order[:max_boxes]
    regions = [labels == (index + 1) for index in keep]
    return [(_tight_box(region), region) for region in regions]


def jitter_box(
    box: np.ndarray,
    rng: np.random.Generator,
    max_px: int,
    shape: tuple[int, int],
    scale: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Push each side of ``box`` outward by an integer in ``0..max_px`` and clip it to the slice ``shape``.

    RASALoRE draws ``randint(0, 20)`` per side in the order x0, x1, y0, y1 (rasalore.md §4); so do we.

    Args:
        box: inclusive int box in the slice frame.
        rng: the slice's generator.
        max_px: largest push, in pixels of the jitter frame.
        shape: ``(H, W)`` of the slice.
        scale: ``(sx, sy)`` slice pixels per jitter-frame pixel (RASALoRE's 224 frame on a 256 slice:
            256/224); with ``(1, 1)`` the box stays integer.
    """
    if max_px <= 0:
        return box.copy()
    dx0, dx1, dy0, dy1 = rng.integers(0, max_px + 1, size=4)
    height, width = shape
    sx, sy = scale
    if (sx, sy) != (1.0, 1.0):  # pushes of whole jitter-frame pixels are fractions of slice pixels
        box = box.astype(np.float64)
        dx0, dx1, dy0, dy1 = dx0 * sx, dx1 * sx, dy0 * sy, dy1 * sy
    return np.asarray(
        [max(box[0] - dx0, 0), max(box[1] - dy0, 0), min(box[2] + dx1, width - 1), min(box[3] + dy1, height - 1)],
        dtype=box.dtype,
    )


def sample_points(box: np.ndarray, region: np.ndarray, count: int, rng: np.random.Generator, where: str) -> np.ndarray:
    """``count`` positive points (pixel centres, with replacement) inside ``box``.

    Args:
        box: inclusive int box.
        region: ``(H, W)`` bool mask the box came from.
        count: number of points.
        rng: the slice's generator.
        where: ``"box"`` (uniform over the box's pixels, RASALoRE's rule) or ``"mask"`` (uniform over the
            region's pixels inside the box).

    Returns:
        ``(count, 2)`` float64 xy positions.
    """
    # Whole pixels inside the box (a jitter counted in another frame leaves fractional sides).
    x0, y0 = int(np.ceil(box[0])), int(np.ceil(box[1]))
    x1, y1 = int(np.floor(box[2])), int(np.floor(box[3]))
    if where == "mask":
        rows, cols = np.nonzero(region[y0 : y1 + 1, x0 : x1 + 1])
        if rows.size:
            pick = rng.integers(0, rows.size, size=count)
            return np.stack([cols[pick] + x0, rows[pick] + y0], axis=1).astype(np.float64)
    xs = rng.integers(x0, x1 + 1, size=count)
    ys = rng.integers(y0, y1 + 1, size=count)
    return np.stack([xs, ys], axis=1).astype(np.float64)


def make_prompts(
    mask: np.ndarray,
    *,
    kind: str,
    box_from: str,
    max_boxes: int,
    jitter_max_px: int,
    num_points: int,
    point_region: str,
    frame_bug: bool,
    rng: np.random.Generator,
    jitter_scale: tuple[float, float] = (1.0, 1.0),
) -> SlicePrompts | None:
    """The prompts of one slice from its pseudo-mask; ``None`` when the mask is empty.

    ``jitter_scale`` converts jitter-frame pixels to slice pixels (see :func:`jitter_box`). With
    ``frame_bug`` every coordinate is multiplied by 224/240 after jitter and sampling, which is what
    RASALoRE's script did to its 224-frame boxes when it handed them over as 240-frame boxes.
    """
    found = component_boxes(mask, box_from, max_boxes)
    if not found:
        return None
    boxes, points = [], []
    for box, region in found:
        box = jitter_box(box, rng, jitter_max_px, mask.shape, jitter_scale)
        boxes.append(box)
        if kind == "point":
            points.append(sample_points(box, region, num_points, rng, point_region))
    box_array = np.asarray(boxes, dtype=np.float64)
    point_array = np.asarray(points, dtype=np.float64) if kind == "point" else None
    if frame_bug:
        # Scaling positions about the origin: the defect multiplies coordinate values, not extents.
        box_array = box_array * RASALORE_BOX_FRAME_BUG
        point_array = point_array * RASALORE_BOX_FRAME_BUG if point_array is not None else None
    return SlicePrompts(box_array, point_array)
