"""The ``per-slice``, ``pooled`` and ``slice-detection`` evaluators (specs in evaluators.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from wsad_core.data.crop import maps_to_crop_frame, masks_to_crop_frame
from wsad_core.errors import ContractError
from wsad_core.metrics._rows import checked_arrays, unit_rows, value_or_none
from wsad_core.metrics.counts import COUNT_METRICS, Counts, confusion_counts, count_metrics
from wsad_core.metrics.ranking import auroc_ap_1d, ranking_metrics
from wsad_core.metrics.threshold_search import dice_at_thresholds

if TYPE_CHECKING:
    from wsad_core.metrics.evaluators import PerSliceOptions, PooledOptions, SliceDetectionOptions
    from wsad_core.roles import EvaluationRequest
    from wsad_core.types import MetricRow, ReferenceSlices

__all__ = ["PerSliceEvaluator", "PooledEvaluator", "SliceDetectionEvaluator"]

_BLOCK = 256  # slices per block: bounds the temporary copies to ~60 MB at 240².


def _tensor(array: np.ndarray, device: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


def _flat(array: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` as ``(N, H*W)``, also for ``N == 0``."""
    return array.reshape(array.shape[0], int(np.prod(array.shape[1:])))


def _per_row(counts: Counts, metrics: dict[str, torch.Tensor]) -> list[dict[str, float | int]]:
    """One dict of counts and count metrics per row, as Python numbers (one device sync)."""
    columns = {name: getattr(counts, name).tolist() for name in ("tp", "fp", "fn", "tn")}
    columns.update({name: value.tolist() for name, value in metrics.items()})
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


class PerSliceEvaluator:
    """RASALoRE's protocol: each slice with more than ``min_lesion_pixels`` lesion pixels is a unit."""

    name = "per-slice"
    threshold_free = False

    def __init__(self, options: PerSliceOptions, *, device: str = "cpu") -> None:
        self.options = options
        self.device = device
        frame = "native frame" if options.frame == "native" else "RASALoRE's 256² crop frame"
        self.label = (
            f"RASALoRE per-slice: mean over test slices with > {options.min_lesion_pixels} lesion px "
            f"(region={options.region}, {frame})"
        )

    def _framed(
        self, scores: np.ndarray, reference: ReferenceSlices
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(scores, masks, brain, lesion_pixels, kept)`` of the kept slices in the options' frame.

        Slices are kept by their lesion pixels in the native frame (the 200-pixel rule is defined there).
        """
        masks, brain = reference.masks, reference.brain_masks
        lesion = _flat(masks).sum(axis=1)
        kept = np.flatnonzero(lesion > self.options.min_lesion_pixels)
        if self.options.frame == "native":
            return scores[kept], masks[kept], brain[kept], lesion, kept
        if reference.crop_boxes is None:
            raise ContractError(
                f"{self.name}: frame 'crop256' needs the slices' crop boxes, which this reference lacks",
                hint="evaluate through wsad run/eval (the data pipeline computes the boxes) or use frame 'native'",
            )
        boxes = reference.crop_boxes[kept]
        crop_scores = maps_to_crop_frame(scores[kept], boxes)
        crop_masks = masks_to_crop_frame(masks[kept], boxes)
        return crop_scores, crop_masks, np.ones_like(crop_masks), lesion, kept

    def evaluate(self, request: EvaluationRequest) -> list[MetricRow]:
        """Rows for dice, jaccard, precision, recall, specificity, auroc and auprc of each kept slice."""
        scores, _, _ = checked_arrays(request, self.name)
        reference = request.reference
        framed_scores, framed_masks, framed_brain, lesion, kept = self._framed(scores, reference)
        rows: list[MetricRow] = []
        for start in range(0, kept.size, _BLOCK):
            block = kept[start : start + _BLOCK]
            local = slice(start, start + block.size)
            block_scores = _tensor(framed_scores[local], self.device).flatten(1)
            targets = _tensor(framed_masks[local], self.device).flatten(1)
            valid = _tensor(framed_brain[local], self.device).flatten(1) if self.options.region == "brain" else None
            auroc, ap = ranking_metrics(block_scores, targets, valid)
            counts = confusion_counts(block_scores, targets, request.threshold, valid)
            per_row = _per_row(counts, count_metrics(counts))
            aurocs, aps = auroc.tolist(), ap.tolist()
            for row, position in enumerate(block):
                numbers = per_row[row]
                values: dict[str, float | None] = {name: float(numbers[name]) for name in COUNT_METRICS}
                values["auroc"] = value_or_none(aurocs[row])
                values["auprc"] = value_or_none(aps[row])
                extras: dict[str, float | int | str] = {
                    "lesion_pixels": int(lesion[position]),
                    "region": self.options.region,
                    "frame": self.options.frame,
                    "postproc": "none",
                    "label": self.label,
                    **{name: int(numbers[name]) for name in ("tp", "fp", "fn", "tn")},
                }
                rows += unit_rows(
                    self.name,
                    request,
                    unit="slice",
                    case_id=reference.case_ids[position],
                    slice_index=int(reference.slice_indices[position]),
                    values=values,
                    extras=extras,
                )
        return rows

    def dice_curve(
        self, scores: np.ndarray, reference: ReferenceSlices, thresholds: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Mean Dice over the kept slices at each threshold (what ``evaluate`` reports), and their number."""
        framed_scores, masks, brain, _, kept = self._framed(np.asarray(scores, dtype=np.float32), reference)
        if kept.size == 0:
            return np.full(len(thresholds), np.nan), 0
        total = np.zeros(len(thresholds), dtype=np.float64)
        for i in range(kept.size):
            region = brain[i] if self.options.region == "brain" else slice(None)
            total += dice_at_thresholds(framed_scores[i][region], masks[i][region], thresholds)
        return total / kept.size, int(kept.size)


class PooledEvaluator:
    """All pixels of the region of every given slice form one unit (healthy slices included)."""

    name = "pooled"
    threshold_free = False

    def __init__(self, options: PooledOptions, *, device: str = "cpu") -> None:
        self.options = options
        self.device = device
        where = "in-brain pixels" if options.region == "brain" else "pixels"
        self.label = f"pooled: all {where} of all test slices, healthy slices included (native frame)"

    def evaluate(self, request: EvaluationRequest) -> list[MetricRow]:
        """Rows for the count metrics, auroc and auprc of the pooled pixels."""
        scores, masks, brain = checked_arrays(request, self.name)
        region = brain if self.options.region == "brain" else np.ones_like(masks)
        pooled_scores = _tensor(scores[region], self.device)
        targets = _tensor(masks[region], self.device)
        extras: dict[str, float | int | str] = {
            "n_slices": len(masks),
            "n_pixels": int(targets.numel()),
            "lesion_pixels": int(targets.sum()),
            "region": self.options.region,
            "frame": "native",
            "postproc": "none",
            "label": self.label,
        }
        names = (*COUNT_METRICS, "auroc", "auprc")
        if targets.numel() == 0:
            values: dict[str, float | None] = dict.fromkeys(names)
        else:
            counts = confusion_counts(pooled_scores[None], targets[None], request.threshold)
            numbers = _per_row(counts, count_metrics(counts))[0]
            values = {name: float(numbers[name]) for name in COUNT_METRICS}
            auroc, ap = auroc_ap_1d(pooled_scores, targets)
            values["auroc"] = value_or_none(auroc)
            values["auprc"] = value_or_none(ap)
            extras.update({name: int(numbers[name]) for name in ("tp", "fp", "fn", "tn")})
        return unit_rows(self.name, request, unit="pooled", case_id="*", slice_index=None, values=values, extras=extras)

    def dice_curve(
        self, scores: np.ndarray, reference: ReferenceSlices, thresholds: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Pooled Dice of the region's pixels at each threshold (what ``evaluate`` reports); one unit."""
        masks = reference.masks
        region = reference.brain_masks if self.options.region == "brain" else np.ones_like(masks)
        if not region.any():
            return np.full(len(thresholds), np.nan), 0
        return dice_at_thresholds(scores[region], masks[region], thresholds), 1


class SliceDetectionEvaluator:
    """Slice-level detection: one score per slice with brain, label = any lesion pixel."""

    name = "slice-detection"
    threshold_free = True

    def __init__(self, options: SliceDetectionOptions, *, device: str = "cpu") -> None:
        self.options = options
        self.device = device
        self.label = f"slice detection: AUROC/AP of the {options.reduce} in-brain map value over test slices with brain"

    def evaluate(self, request: EvaluationRequest) -> list[MetricRow]:
        """Rows for auroc and auprc over slices (one pooled unit)."""
        scores, masks, brain = checked_arrays(request, self.name)
        n = len(masks)
        flat_brain = _flat(brain)
        with_brain = np.flatnonzero(flat_brain.any(axis=1))
        labels = _flat(masks)[with_brain].any(axis=1)
        slice_scores = np.concatenate(
            [
                _reduce(_flat(scores)[block], flat_brain[block], self.options.reduce)
                for block in np.array_split(with_brain, max(1, -(-with_brain.size // _BLOCK)))
            ]
        )
        values: dict[str, float | None] = {"auroc": None, "auprc": None}
        if with_brain.size:
            auroc, ap = auroc_ap_1d(_tensor(slice_scores, self.device), _tensor(labels, self.device))
            values = {"auroc": value_or_none(auroc), "auprc": value_or_none(ap)}
        extras: dict[str, float | int | str] = {
            "n_slices": int(with_brain.size),
            "n_anomalous": int(labels.sum()),
            "n_excluded": int(n - with_brain.size),
            "reduce": self.options.reduce,
            "frame": "native",
            "label": self.label,
        }
        return unit_rows(self.name, request, unit="pooled", case_id="*", slice_index=None, values=values, extras=extras)


def _reduce(scores: np.ndarray, brain: np.ndarray, how: str) -> np.ndarray:
    """Per-row max, mean or 99th percentile (linear interpolation) of the in-brain scores."""
    if how == "max":
        return np.where(brain, scores, -np.inf).max(axis=1)
    if how == "mean":
        return np.where(brain, scores, 0).sum(axis=1, dtype=np.float64) / brain.sum(axis=1)
    return np.array([np.percentile(row[mask], 99) for row, mask in zip(scores, brain, strict=True)], dtype=np.float64)
