"""Which voxels are brain: a brain-mask file when the dataset has one, else an estimate from the images.

The estimate does not take "voxels ≠ 0": intensity-normalised scans keep a constant *negative*
background (z-scored volumes), and unstripped or noisy scans have no exact background value, so
"≠ 0" would count the whole field of view as brain — every per-volume normalisation, pseudo-mask
and evaluation region would then include background. Instead the background level is read from
the volume's border (the six faces), where no brain lies in skull-stripped, centred scans:

* constant border (its median absolute deviation is 0): background is exactly that value, brain
  is every voxel that differs from it — for the usual skull-stripped scans (background 0) this is
  the same "≠ 0" mask as before, and a z-scored copy of them gives the same brain;
* noisy border: brain is what lies more than ``NOISE_SIGMAS`` robust standard deviations from the
  border median, with holes in each axial slice filled and only the largest 3-D component kept.

Several modalities are combined by union, as one skull-stripping mask serves them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["NOISE_SIGMAS", "PLAUSIBLE_BRAIN_FRACTION", "BrainEstimate", "estimate_brain"]

#: Distance from the background level, in robust standard deviations of the border, that counts as signal.
NOISE_SIGMAS = 5.0
#: A brain covering more of the volume than this is taken for background counted as brain.
PLAUSIBLE_BRAIN_FRACTION = 0.8
_MAD_TO_SIGMA = 1.4826  # standard deviation of a normal distribution per unit of median absolute deviation


@dataclass(frozen=True, slots=True)
class BrainEstimate:
    """A brain mask and how it was obtained.

    Attributes:
        mask: ``(X, Y, Z)`` bool.
        method: ``"mask file"``, ``"background value"`` (constant border) or ``"noise threshold"``.
        background: per modality, the border level used (``None`` for a mask file).
    """

    mask: np.ndarray
    method: str
    background: tuple[float, ...] | None = None

    @property
    def fraction(self) -> float:
        """Share of the volume's voxels that are brain."""
        return float(self.mask.mean()) if self.mask.size else 0.0


def _border(volume: np.ndarray) -> np.ndarray:
    faces = [volume[0], volume[-1], volume[:, 0], volume[:, -1], volume[:, :, 0], volume[:, :, -1]]
    return np.concatenate([face.ravel() for face in faces])


def estimate_brain(volumes: Sequence[np.ndarray]) -> BrainEstimate:
    """The brain of co-registered ``(X, Y, Z)`` volumes (see the module docstring for the rule)."""
    if not volumes:
        raise ValueError("estimate_brain needs at least one volume")
    brain = np.zeros(volumes[0].shape, dtype=bool)
    levels, noisy = [], False
    for volume in volumes:
        border = _border(volume).astype(np.float64)
        level = float(np.median(border))
        spread = float(np.median(np.abs(border - level))) * _MAD_TO_SIGMA
        levels.append(level)
        if spread == 0.0:
            brain |= volume != level
        else:
            noisy = True
            brain |= np.abs(volume - level) > NOISE_SIGMAS * spread
    if noisy:
        brain = _clean(brain)
    return BrainEstimate(brain, "noise threshold" if noisy else "background value", tuple(levels))


def _clean(brain: np.ndarray) -> np.ndarray:
    """Holes filled per axial slice, and only the largest 3-D component: noise specks are not brain."""
    from scipy import ndimage

    filled = np.zeros_like(brain)
    for k in range(brain.shape[2]):
        filled[:, :, k] = ndimage.binary_fill_holes(brain[:, :, k])
    labels, count = ndimage.label(filled)
    if count <= 1:
        return filled
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))
