"""Healthy anatomy for synthetic data: tissue maps of the MNI152 template, or a tiny phantom.

The MNI152 2009 template, its grey/white-matter maps and brain mask ship with nilearn and
load offline. Resolution 2 is derived from the 1 mm maps by Gaussian smoothing and
subsampling, which gives the same 99x117x95 grid and affine as nilearn's own 2 mm
resampling in a fraction of its time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["MNI_SOURCE", "Tissues", "mni_tissues", "phantom_tissues"]

MNI_SOURCE = "MNI152 2009 template (nilearn)"


@dataclass(frozen=True, slots=True, eq=False)
class Tissues:
    """Tissue probability maps on one grid.

    Attributes:
        gm: grey matter, float32 in ``[0, 1]``.
        wm: white matter, float32 in ``[0, 1]``.
        csf: cerebrospinal fluid (brain minus GM and WM), float32 in ``[0, 1]``.
        brain: float32 brain probability; ``brain > 0.5`` is the brain mask.
        affine: ``(4, 4)`` voxel-to-world matrix.
    """

    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    brain: np.ndarray
    affine: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape ``(X, Y, Z)``."""
        x, y, z = self.gm.shape
        return int(x), int(y), int(z)

    @property
    def zooms(self) -> tuple[float, float, float]:
        """Voxel size in mm along each axis."""
        sizes = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return float(sizes[0]), float(sizes[1]), float(sizes[2])

    def maps(self) -> tuple[np.ndarray, ...]:
        """``(gm, wm, csf, brain)``, the maps a deformation moves together."""
        return self.gm, self.wm, self.csf, self.brain


def _with_csf(gm: np.ndarray, wm: np.ndarray, brain: np.ndarray, affine: np.ndarray) -> Tissues:
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    return Tissues(
        gm=gm.astype(np.float32),
        wm=wm.astype(np.float32),
        csf=csf.astype(np.float32),
        brain=brain.astype(np.float32),
        affine=affine.astype(np.float64),
    )


@functools.lru_cache(maxsize=2)
def mni_tissues(resolution: int = 2) -> Tissues:
    """Tissue maps of the MNI152 2009 template at ``resolution`` mm (1 or 2), offline.

    Args:
        resolution: voxel size in mm.

    Returns:
        The maps (cached per process; treat them as read-only).
    """
    from nilearn import datasets
    from scipy import ndimage

    if resolution not in (1, 2):
        raise ValueError(f"resolution must be 1 or 2 mm, got {resolution}")
    images = (
        datasets.load_mni152_gm_template(resolution=1),
        datasets.load_mni152_wm_template(resolution=1),
        datasets.load_mni152_brain_mask(resolution=1),
    )
    gm, wm, brain = (np.asarray(img.dataobj, dtype=np.float32) for img in images)
    affine = np.asarray(images[0].affine, dtype=np.float64)
    # Tissue outside the brain mask is skull/dura residue of the probabilistic maps.
    gm, wm = gm * brain, wm * brain
    if resolution == 2:
        # Anti-aliasing before keeping every second voxel: voxel i of the new grid is
        # voxel 2i of the old one, as on nilearn's own 2 mm grid.
        gm, wm, brain = (ndimage.gaussian_filter(m, sigma=0.8)[::2, ::2, ::2] for m in (gm, wm, brain))
        affine = affine.copy()
        affine[:3, :3] *= 2.0
    return _with_csf(np.clip(gm, 0, 1), np.clip(wm, 0, 1), np.clip(brain, 0, 1), affine)


def _ellipsoid(shape: tuple[int, int, int], centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    grids = np.ogrid[: shape[0], : shape[1], : shape[2]]
    rho2 = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii, strict=True))
    return np.asarray(rho2 <= 1.0)


def phantom_tissues(
    shape: tuple[int, int, int] = (48, 48, 40), zooms: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> Tissues:
    """A small head phantom: a brain ellipsoid with a WM core, a GM rim and two ventricles.

    The brain leaves the first and last few axial slices empty, so phantoms have
    brain-free slices like real volumes.

    Args:
        shape: grid shape ``(X, Y, Z)``, each at least 8.
        zooms: voxel size in mm.

    Returns:
        The phantom's maps, with a diagonal affine of ``zooms``.
    """
    from scipy import ndimage

    if min(shape) < 8:
        raise ValueError(f"phantom shape must be at least 8 along each axis, got {shape}")
    size = np.asarray(shape, dtype=np.float64)
    centre = (size - 1) / 2
    brain = _ellipsoid(shape, centre, size * np.array([0.42, 0.45, 0.36]))
    wm = _ellipsoid(shape, centre, size * np.array([0.28, 0.32, 0.24]))
    offset = np.array([0.08 * size[0], 0.0, 0.0])
    ventricles = _ellipsoid(shape, centre - offset, size * np.array([0.05, 0.14, 0.08])) | _ellipsoid(
        shape, centre + offset, size * np.array([0.05, 0.14, 0.08])
    )
    smooth = functools.partial(ndimage.gaussian_filter, sigma=0.7)
    brain_f = smooth(brain.astype(np.float32))
    wm_f = smooth((wm & ~ventricles).astype(np.float32)) * brain_f
    gm_f = np.clip(brain_f - wm_f - smooth(ventricles.astype(np.float32)), 0.0, 1.0)
    affine = np.diag([*zooms, 1.0])
    return _with_csf(gm_f, wm_f, brain_f, affine)
