"""Exact coordinate maps between a slice, a model's input and its output logits.

Conventions (the same in every frame):

* a **point** ``(x, y)`` is a continuous position in pixel-index units: pixel ``(row r, col c)`` has its
  centre at ``(x, y) = (c, r)``. This is SAM's convention (its prompt encoder adds 0.5 to reach the pixel
  centre before normalising by the input size);
* a **box** ``(x0, y0, x1, y1)`` holds the indices of the first and last pixel it covers, both inclusive
  (MedSAM's ``get_bbox``), so it spans the pixel extent ``[x0, x1 + 1) × [y0, y1 + 1)``.

Resizing an image from ``n`` to ``m`` pixels with ``align_corners=False`` interpolation maps the
continuous extent coordinate ``u`` to ``u · m / n``. Hence a point maps as ``x' = (x + 0.5) · m/n − 0.5``
and a box maps by its extent: ``x0' = x0 · m/n``, ``x1' = (x1 + 1) · m/n − 1``. With these maps the tight
box of a mask resized by an integer factor (nearest neighbour) equals the mapped tight box exactly, and
every map has an exact inverse. The official MedSAM code scales corner indices by ``m/n`` directly
(at most half a slice pixel away from this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RASALORE_BOX_FRAME_BUG", "FrameMap", "lite_input_extent"]

#: RASALoRE passed a box computed in DDPT's 224 frame as a box of the 240 slice (rasalore.md §4, defect 4).
RASALORE_BOX_FRAME_BUG = 224.0 / 240.0


@dataclass(frozen=True, slots=True)
class FrameMap:
    """Affine map between a source frame ``(H, W)`` and a destination frame ``(h, w)`` covering the same extent.

    Attributes:
        source: ``(H, W)`` of the source frame (e.g. the slice).
        target: ``(h, w)`` of the destination frame (e.g. the resized, unpadded model input).
    """

    source: tuple[int, int]
    target: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """``(sx, sy)``: destination pixels per source pixel along x (columns) and y (rows)."""
        return self.target[1] / self.source[1], self.target[0] / self.source[0]

    def inverse(self) -> FrameMap:
        """The map back from the destination to the source frame."""
        return FrameMap(self.target, self.source)

    def points(self, points: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` xy positions from the source to the destination frame."""
        points = np.asarray(points, dtype=np.float64)
        scale = np.asarray(self.scale)
        return (points + 0.5) * scale - 0.5

    def boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Map ``(..., 4)`` inclusive xyxy pixel boxes from the source to the destination frame."""
        boxes = np.asarray(boxes, dtype=np.float64)
        sx, sy = self.scale
        scale = np.asarray([sx, sy, sx, sy])
        # Lower corners scale as extents starting at x0; upper corners as extents ending at x1 + 1.
        offset = np.asarray([0.0, 0.0, 1.0, 1.0])
        return (boxes + offset) * scale - offset


def lite_input_extent(shape: tuple[int, int], side: int = 256) -> tuple[int, int]:
    """LiteMedSAM's resized extent: longest side → ``side``, rounded half up (``int(x + 0.5)``, as its code)."""
    height, width = shape
    scale = side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)
