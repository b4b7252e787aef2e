"""One case → 2-D slices, as in the RASALoRE paper (§4; shared/docs/rasalore.md §2).

Axial slices ``vol[:, :, k]`` of the raw nibabel array (no reorientation), ``k`` in
``[skip_first, D - skip_last)``; intensities normalised per volume inside the brain;
images resized bilinearly to ``size x size`` and zeroed outside the resized brain. The
lesion and brain masks are also kept in the native frame, where lesion pixels are
counted (the paper's 200-pixel rule is defined there) and evaluation happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wsad_core.data._nifti import Volume, check_same_grid, load_volume
from wsad_core.data.brain import BrainEstimate, estimate_brain
from wsad_core.data.config import PreprocessConfig
from wsad_core.data.crop import official_crop_boxes
from wsad_core.data.frames import resize_stack
from wsad_core.data.index import CaseRecord
from wsad_core.errors import DataError

__all__ = ["PreparedCase", "case_brain", "normalise_volume", "prepare_case"]


@dataclass(frozen=True, slots=True, eq=False)
class PreparedCase:
    """The kept slices of one case, in the model frame and the native frame.

    Attributes:
        case_id: the case.
        modalities: channel names of ``images``.
        images: ``(S, C, size, size)`` float32 in ``[0, 1]``, 0 outside the brain.
        brain_masks: ``(S, size, size)`` bool.
        native_masks: ``(S, H0, W0)`` bool lesion masks (all False without a mask).
        native_brain: ``(S, H0, W0)`` bool brain masks.
        lesion_pixels: ``(S,)`` int32 lesion pixels per slice, native frame.
        slice_indices: ``(S,)`` int32 axial indices ``k``.
        native_shape: ``(H0, W0, D)`` of the volume.
        affine: ``(4, 4)`` float64 voxel-to-world matrix of the volume.
        has_mask: whether the case came with a segmentation.
        crop_boxes: ``(S, 4)`` int32 boxes of RASALoRE's crop frame in the native frame, from
            the first modality's raw slices (:func:`~wsad_core.data.crop.official_crop_boxes`).
    """

    case_id: str
    modalities: tuple[str, ...]
    images: np.ndarray
    brain_masks: np.ndarray
    native_masks: np.ndarray
    native_brain: np.ndarray
    lesion_pixels: np.ndarray
    slice_indices: np.ndarray
    native_shape: tuple[int, int, int]
    affine: np.ndarray
    has_mask: bool = True
    crop_boxes: np.ndarray | None = None

    def __post_init__(self) -> None:
        s = int(self.slice_indices.shape[0])
        expected = {
            "images": (s, len(self.modalities), *self.images.shape[2:]),
            "brain_masks": (s, *self.images.shape[2:]),
            "native_masks": (s, *self.native_shape[:2]),
            "native_brain": (s, *self.native_shape[:2]),
            "lesion_pixels": (s,),
        }
        for name, shape in expected.items():
            actual = tuple(getattr(self, name).shape)
            if actual != shape:
                raise DataError(f"PreparedCase {self.case_id!r}: {name} has shape {actual}, expected {shape}")

    def __len__(self) -> int:
        return int(self.slice_indices.shape[0])

    @property
    def native_hw(self) -> tuple[int, int]:
        """In-plane native shape ``(H0, W0)``."""
        return self.native_shape[0], self.native_shape[1]


def normalise_volume(volume: np.ndarray, brain: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Intensities of one channel mapped to ``[0, 1]``, 0 outside ``brain``.

    ``volume-percentile`` clips the brain's intensities to ``config.percentiles`` of the
    whole volume's brain voxels and scales linearly; ``slice-minmax`` scales each axial
    slice by its own minimum and maximum (the official code's PNG export, without the
    8-bit truncation).

    Args:
        volume: ``(X, Y, Z)`` float32.
        brain: ``(X, Y, Z)`` bool.
        config: the normalisation settings.

    Returns:
        float32 volume of the same shape.
    """
    out = np.zeros(volume.shape, dtype=np.float32)
    if config.normalisation == "volume-percentile":
        values = volume[brain]
        if values.size == 0:
            return out
        low, high = (float(v) for v in np.percentile(values, config.percentiles))
        if high <= low:
            # Nearly constant brain: fall back to the full range so the image is not blank.
            low, high = float(values.min()), float(values.max())
        scale = 1.0 / (high - low) if high > low else 0.0
        np.clip((volume - low) * scale, 0.0, 1.0, out=out)
    else:
        low = volume.min(axis=(0, 1), keepdims=True)
        span = volume.max(axis=(0, 1), keepdims=True) - low
        np.divide(volume - low, span, out=out, where=span > 0)
    out[~brain] = 0.0
    return out


def _load(
    case: CaseRecord, modalities: Sequence[str], lesion_labels: tuple[int, ...] | None = None
) -> tuple[list[Volume], Volume | None]:
    missing = [m for m in modalities if m not in case.images]
    if missing:
        raise DataError(
            f"case {case.case_id!r} has no {', '.join(missing)} image (available: {', '.join(case.images) or 'none'})",
            hint="choose modalities every case has",
        )
    images = [load_volume(case.images[m], role="image") for m in modalities]
    for other in images[1:]:
        check_same_grid(images[0], other)
    mask = load_volume(case.mask, role="mask", lesion_labels=lesion_labels) if case.mask is not None else None
    if mask is not None:
        check_same_grid(images[0], mask)
    return images, mask


def case_brain(case: CaseRecord, images: Sequence[Volume]) -> BrainEstimate:
    """The brain of ``case``: its brain-mask file (voxels > 0) when it has one, else estimated from ``images``.

    Raises:
        DataError: the brain-mask file is bad, on another grid, or empty.
    """
    if case.brain is None:
        return estimate_brain([v.array for v in images])
    volume = load_volume(case.brain, role="mask")
    check_same_grid(images[0], volume)
    mask = volume.array > 0
    if not mask.any():
        raise DataError(f"{case.brain}: the brain mask of case {case.case_id!r} is empty", hint="check the file")
    return BrainEstimate(mask, "mask file")


def _axial(volume: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``vol[:, :, k]`` for ``k`` in ``[start, stop)``, stacked as ``(S, X, Y)``."""
    return np.ascontiguousarray(np.moveaxis(volume[:, :, start:stop], 2, 0))


def prepare_case(case: CaseRecord, modalities: tuple[str, ...], config: PreprocessConfig) -> PreparedCase:
    """Load, check, slice, normalise and resize one case.

    Args:
        case: the case's files.
        modalities: channels, in order.
        config: preprocessing settings.

    Returns:
        The prepared slices.

    Raises:
        DataError: a file is bad (see :func:`~wsad_core.data._nifti.load_volume`), the
            volumes do not share a grid, a modality is missing, or no slice remains
            after dropping ``skip_first``/``skip_last``.
    """
    if not modalities:
        raise DataError(f"case {case.case_id!r}: no modality requested", hint="choose at least one modality")
    images, mask = _load(case, modalities, config.lesion_labels)
    x, y, depth = images[0].shape
    start, stop = config.skip_first, depth - config.skip_last
    if stop <= start:
        raise DataError(
            f"{images[0].name}: {depth} axial slices leave none after dropping the first {config.skip_first} "
            f"and last {config.skip_last}",
            hint="lower skip_first/skip_last for volumes this thin",
        )
    brain = case_brain(case, images).mask
    channels = [_axial(normalise_volume(v.array, brain, config), start, stop) for v in images]
    native = np.stack(channels, axis=1)
    native_brain = _axial(brain, start, stop)
    native_masks = _axial(mask.array > 0, start, stop) if mask is not None else np.zeros_like(native_brain)
    size = (config.size, config.size)
    brain_masks = resize_stack(native_brain, size)
    resized = np.clip(resize_stack(native, size), 0.0, 1.0)
    resized *= brain_masks[:, None]
    return PreparedCase(
        case_id=case.case_id,
        modalities=tuple(modalities),
        images=resized.astype(np.float32, copy=False),
        brain_masks=brain_masks,
        native_masks=native_masks,
        native_brain=native_brain,
        lesion_pixels=native_masks.sum(axis=(1, 2)).astype(np.int32),
        slice_indices=np.arange(start, stop, dtype=np.int32),
        native_shape=(x, y, depth),
        affine=images[0].affine,
        has_mask=mask is not None,
        # The official crop frame is the box of the non-background pixels: background set to the volume's minimum
        # (it is already, for skull-stripped scans) so that a negative or noisy background does not widen it.
        crop_boxes=official_crop_boxes(_axial(np.where(brain, images[0].array, images[0].array.min()), start, stop)),
    )
