"""Prepared cases → what the pipeline hands to methods and evaluators for one split part.

Methods get a :class:`~wsad_core.types.SliceSet` (images, brain masks, image-level
labels); evaluators a :class:`~wsad_core.types.ReferenceSlices` (native-frame lesion and
brain masks). The image label is 1 when the slice has any lesion pixel; which slices a
method may *train* on follows the paper's rules (:func:`training_selection`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from wsad_core.data.config import PreprocessConfig
from wsad_core.data.preprocess import PreparedCase
from wsad_core.errors import DataError
from wsad_core.types import Label, ReferenceSlices, SliceSet

__all__ = ["SplitSlices", "assemble", "slice_categories", "training_selection"]


@dataclass(frozen=True, slots=True, eq=False)
class SplitSlices:
    """All slices of one split part, in case order then axial order.

    Attributes:
        slices: what methods see; labels 1 (any lesion pixel), 0, or ``UNKNOWN`` for
            cases without a mask.
        reference: native-frame ground truth for evaluators, same order.
        lesion_pixels: ``(N,)`` int32 lesion pixels per slice (native frame).
        cases: the prepared cases by id (affines and native shapes for NIfTI output).
    """

    slices: SliceSet
    reference: ReferenceSlices
    lesion_pixels: np.ndarray
    cases: dict[str, PreparedCase]

    def __len__(self) -> int:
        return len(self.slices)


def _same(cases: Sequence[PreparedCase], what: str, value: object, get: Callable[[PreparedCase], object]) -> None:
    for case in cases:
        found = get(case)
        if found != value:
            raise DataError(
                f"case {case.case_id!r} has {what} {found}, case {cases[0].case_id!r} has {value}",
                hint="all cases of a run must share modalities and in-plane size",
            )


def assemble(cases: Sequence[PreparedCase]) -> SplitSlices:
    """Concatenate prepared cases into one :class:`SplitSlices`.

    Args:
        cases: prepared cases sharing modalities, model size and native in-plane shape.

    Returns:
        The slices with labels and ground truth.

    Raises:
        DataError: no cases, or the cases disagree on modalities or frame sizes.
    """
    if not cases:
        raise DataError("no cases to assemble", hint="the split part is empty")
    first = cases[0]
    _same(cases, "modalities", first.modalities, lambda c: c.modalities)
    _same(cases, "slice size", first.images.shape[2:], lambda c: c.images.shape[2:])
    _same(cases, "native in-plane shape", first.native_hw, lambda c: c.native_hw)
    lesion_pixels = np.concatenate([np.asarray(c.lesion_pixels, dtype=np.int32) for c in cases])
    labels = np.concatenate(
        [
            np.where(np.asarray(c.lesion_pixels) > 0, Label.ANOMALOUS, Label.HEALTHY)
            if c.has_mask
            else np.full(len(c), Label.UNKNOWN)
            for c in cases
        ]
    ).astype(np.int8)
    case_ids = tuple(c.case_id for c in cases for _ in range(len(c)))
    slice_indices = np.concatenate([np.asarray(c.slice_indices, dtype=np.int32) for c in cases])
    slices = SliceSet(
        images=np.concatenate([c.images for c in cases]).astype(np.float32, copy=False),
        brain_masks=np.concatenate([c.brain_masks for c in cases]),
        labels=labels,
        case_ids=case_ids,
        slice_indices=slice_indices,
        modalities=first.modalities,
    )
    boxes = [c.crop_boxes for c in cases]
    reference = ReferenceSlices(
        masks=np.concatenate([c.native_masks for c in cases]),
        brain_masks=np.concatenate([c.native_brain for c in cases]),
        case_ids=case_ids,
        slice_indices=slice_indices,
        crop_boxes=None if any(b is None for b in boxes) else np.concatenate(boxes).astype(np.int32),
    )
    return SplitSlices(slices, reference, lesion_pixels, {c.case_id: c for c in cases})


def slice_categories(lesion_pixels: np.ndarray, has_brain: np.ndarray, min_lesion_pixels: int) -> dict[str, np.ndarray]:
    """Boolean masks of the four slice categories of shared/docs/evaluation.md §4.

    Args:
        lesion_pixels: ``(N,)`` lesion pixels per slice, native frame.
        has_brain: ``(N,)`` whether the slice holds any brain.
        min_lesion_pixels: slices with more lesion pixels are anomalous.

    Returns:
        ``anomalous`` (> min), ``ambiguous`` (1..min), ``healthy`` (no lesion, some
        brain) and ``brain_free`` (no lesion, no brain); they partition the slices.
    """
    lesion_pixels = np.asarray(lesion_pixels)
    has_brain = np.asarray(has_brain, dtype=bool)
    lesion = lesion_pixels > 0
    return {
        "anomalous": lesion_pixels > min_lesion_pixels,
        "ambiguous": lesion & (lesion_pixels <= min_lesion_pixels),
        "healthy": ~lesion & has_brain,
        "brain_free": ~lesion & ~has_brain,
    }


def training_selection(split: SplitSlices, config: PreprocessConfig) -> np.ndarray:
    """Positions of the slices a method may train on.

    Ambiguous slices (1..``min_lesion_pixels`` lesion pixels) are dropped when
    ``ambiguous_slices == "drop"`` (official code) and kept with label 1 otherwise;
    brain-free slices are dropped when ``brain_free_slices == "exclude"``.

    Args:
        split: training (or validation) slices.
        config: the selection rules.

    Returns:
        Sorted int64 positions into ``split.slices``.

    Raises:
        DataError: a case has no mask (image labels are derived from the segmentation).
    """
    unlabelled = sorted(case_id for case_id, case in split.cases.items() if not case.has_mask)
    if unlabelled:
        raise DataError(
            f"cases without a segmentation cannot be used for training: {', '.join(unlabelled[:5])}"
            + (f" and {len(unlabelled) - 5} more" if len(unlabelled) > 5 else ""),
            hint="image labels are derived from the segmentation; keep unlabelled cases out of train/validation",
        )
    has_brain = split.reference.brain_masks.any(axis=(1, 2))
    categories = slice_categories(split.lesion_pixels, has_brain, config.min_lesion_pixels)
    keep = np.ones(len(split), dtype=bool)
    if config.ambiguous_slices == "drop":
        keep &= ~categories["ambiguous"]
    if config.brain_free_slices == "exclude":
        keep &= ~categories["brain_free"]
    return np.flatnonzero(keep).astype(np.int64)
