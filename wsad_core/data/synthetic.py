"""Synthetic brain MRI with lesions of known masks: the embedded demo dataset and test fixtures.

Anatomy comes from the MNI152 2009 template shipped with nilearn (or a tiny ellipsoid
phantom for unit tests). Per subject, seeded and reproducible: a smooth random
deformation, 1-3 ellipsoidal lesions with noisy texture, irregular soft borders and mass
effect, a bias field, a global gain and noise. Contrasts are synthesised from the grey
matter / white matter / CSF maps: FLAIR-like (GM brighter than WM, CSF dark, lesions
hyper-intense) and T1-like (WM brighter than GM, lesions hypo-intense). Masks are exact
(the voxels where the lesion dominates) and lie inside the brain.

Example::

    case = make_synthetic_case((48, 48, 40), seed=3, lesions=2)
    case.write(tmp_path / "case_003")   # flair.nii.gz, t1.nii.gz, seg.nii.gz
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from wsad_core.data._anatomy import Tissues, mni_tissues, phantom_tissues
from wsad_core.data._lesions import lesion_fields, mass_effect, sample_lesions, smooth_field, warp

__all__ = ["CONTRASTS", "SyntheticCase", "make_synthetic_case", "render_case"]

#: Tissue weights (GM, WM, CSF) and lesion level of each synthetic contrast, on a 0-1 scale.
CONTRASTS: dict[str, tuple[float, float, float, float]] = {
    "flair": (0.62, 0.48, 0.10, 0.95),
    "t1": (0.45, 0.78, 0.12, 0.30),
    "t1ce": (0.47, 0.78, 0.12, 0.75),
    "t2": (0.55, 0.42, 0.95, 0.85),
}
#: Stored intensities are integers in 1..32000 inside the brain, like raw scanner data.
_SCALE = 1000.0


@dataclass(frozen=True, slots=True, eq=False)
class SyntheticCase:
    """One synthetic subject.

    Attributes:
        images: modality → ``(X, Y, Z)`` float32 volume (integer values, 0 outside the brain).
        mask: ``(X, Y, Z)`` uint8 lesion mask (1 = lesion), inside the brain.
        brain: ``(X, Y, Z)`` bool brain mask.
        affine: ``(4, 4)`` voxel-to-world matrix.
        lesion_count: number of lesions drawn.
    """

    images: dict[str, np.ndarray]
    mask: np.ndarray
    brain: np.ndarray
    affine: np.ndarray
    lesion_count: int

    def write(self, directory: Path, names: Mapping[str, str] | None = None) -> dict[str, Path]:
        """Write the volumes as NIfTI files (images int16, mask uint8).

        Args:
            directory: created if missing.
            names: file name per modality and for ``"seg"``; defaults to
                ``<modality>.nii.gz`` and ``seg.nii.gz``. Keys mapped to ``""`` are skipped.

        Returns:
            What was written, by modality name and ``"seg"``.
        """
        import nibabel as nib

        directory.mkdir(parents=True, exist_ok=True)
        names = dict(names or {})
        written: dict[str, Path] = {}
        volumes: dict[str, tuple[np.ndarray, type[np.generic]]] = {
            **{m: (v, np.int16) for m, v in self.images.items()},
            "seg": (self.mask, np.uint8),
        }
        for key, (array, dtype) in volumes.items():
            name = names.get(key, f"{key}.nii.gz")
            if not name:
                continue
            image = nib.Nifti1Image(np.asarray(array, dtype=dtype), self.affine)
            image.header.set_xyzt_units("mm")
            nib.save(image, directory / name)
            written[key] = directory / name
        return written


def render_case(
    tissues: Tissues,
    rng: np.random.Generator,
    *,
    lesions: int,
    modalities: Sequence[str] = ("flair", "t1"),
    lesion_radius_mm: tuple[float, float] = (18.0, 30.0),
    deformation_mm: float = 1.5,
) -> SyntheticCase:
    """Draw one subject from healthy ``tissues``.

    Args:
        tissues: the healthy anatomy.
        rng: the subject's generator; every random choice comes from it, in a fixed order.
        lesions: how many lesions (0 gives a healthy subject).
        modalities: contrasts to synthesise, keys of :data:`CONTRASTS`.
        lesion_radius_mm: range of the main lesion's semi-axes in mm.
        deformation_mm: amplitude of the smooth random deformation.

    Returns:
        The subject.
    """
    from scipy import ndimage

    unknown = [m for m in modalities if m not in CONTRASTS]
    if unknown:
        raise ValueError(f"no synthetic contrast for {unknown}; known: {sorted(CONTRASTS)}")
    shape = tissues.shape
    zooms = np.asarray(tissues.zooms)
    anisotropy = zooms / zooms.min()
    finest = float(zooms.min())
    placed = sample_lesions(
        tissues.brain > 0.5,
        rng,
        count=lesions,
        radius_voxels=(lesion_radius_mm[0] / finest, lesion_radius_mm[1] / finest),
        anisotropy=anisotropy,
    )
    displacement = mass_effect(shape, placed, anisotropy)
    for axis in range(3):
        displacement[axis] += float(deformation_mm / zooms[axis]) * smooth_field(shape, rng)
    gm, wm, csf, brain_p = warp(tissues.maps(), displacement)
    brain = brain_p > 0.5
    alpha, mask = lesion_fields(shape, placed, rng, anisotropy)
    mask &= brain
    alpha *= brain
    texture = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 1.0)
    texture /= max(float(texture.std()), 1e-6)
    grain = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 0.7)
    grain /= max(float(grain.std()), 1e-6)
    images = {}
    for modality in modalities:
        w_gm, w_wm, w_csf, level = CONTRASTS[modality]
        healthy = (w_gm * gm + w_wm * wm + w_csf * csf) * (1.0 + 0.03 * grain)
        lesion = level * rng.uniform(0.92, 1.05) + 0.06 * texture
        image = healthy * (1.0 - alpha) + lesion * alpha
        bias = np.exp(0.12 * smooth_field(shape, rng))
        image = image * bias * rng.uniform(0.85, 1.15) + 0.015 * rng.standard_normal(shape, dtype=np.float32)
        image = np.where(brain, np.clip(np.round(image * _SCALE), 1.0, 32000.0), 0.0)
        images[modality] = image.astype(np.float32)
    return SyntheticCase(
        images=images, mask=mask.astype(np.uint8), brain=brain, affine=tissues.affine.copy(), lesion_count=len(placed)
    )


def make_synthetic_case(
    shape: tuple[int, int, int] = (48, 48, 40),
    *,
    seed: int = 0,
    lesions: int = 1,
    modalities: Sequence[str] = ("flair", "t1"),
    zooms: tuple[float, float, float] = (1.0, 1.0, 1.0),
    lesion_radius_mm: tuple[float, float] | None = None,
    template: Literal["phantom", "mni152"] = "phantom",
    resolution: Literal[1, 2] = 2,
) -> SyntheticCase:
    """A reproducible synthetic subject, for tests and examples.

    Args:
        shape: grid of the phantom (ignored for ``template="mni152"``).
        seed: same seed, same arrays.
        lesions: number of lesions; 0 for a healthy subject.
        modalities: contrasts to synthesise (``flair``, ``t1``, ``t1ce``, ``t2``).
        zooms: voxel size of the phantom in mm.
        lesion_radius_mm: main lesion semi-axes range; defaults to 12-20 % of the
            phantom's smallest extent, or 18-30 mm on the template.
        template: ``"phantom"`` (fast, any shape) or ``"mni152"`` (nilearn's template).
        resolution: template voxel size in mm.

    Returns:
        The subject; write it with :meth:`SyntheticCase.write`.
    """
    if template == "mni152":
        tissues = mni_tissues(resolution)
        radius = lesion_radius_mm or (18.0, 30.0)
    else:
        tissues = phantom_tissues(shape, zooms)
        extent = min(s * z for s, z in zip(shape, zooms, strict=True))
        radius = lesion_radius_mm or (0.12 * extent, 0.2 * extent)
    rng = np.random.default_rng(seed)
    return render_case(tissues, rng, lesions=lesions, modalities=modalities, lesion_radius_mm=radius)
