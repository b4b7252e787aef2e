"""The ``per-volume`` evaluator: 3-D metrics per case with optional post-processing.

Each case's slices are stacked by axial index into a ``(D, H, W)`` volume spanning the
smallest to the largest given index; missing indices become slices outside the region
(never scored, filled with the least anomalous value). Order of operations, as in
Behrendt et al.'s code (evaluation.md §3.1 ``volume-val``): erode the brain mask (each
slice in 2-D, as slices of a stack may be missing), set the
map outside the region to its minimum over the region (the "map x brain mask" step,
generalised to maps that can be negative), 3-D median filter, binarise at ``>= t``,
remove small connected components. AUROC/AUPRC use the filtered continuous map; the
count metrics use the filtered binary volume; both only over the region's voxels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from wsad_core.errors import ContractError
from wsad_core.metrics._rows import checked_arrays, unit_rows, value_or_none
from wsad_core.metrics.counts import COUNT_METRICS, count_metrics, counts_from_masks
from wsad_core.metrics.postprocess import erode_mask, median_filter_volume, remove_small_components
from wsad_core.metrics.ranking import auroc_ap_1d
from wsad_core.metrics.threshold_search import dice_at_thresholds

if TYPE_CHECKING:
    from wsad_core.metrics.evaluators import PerVolumeOptions
    from wsad_core.roles import EvaluationRequest
    from wsad_core.types import MetricRow, ReferenceSlices

#: With a connected-component filter, the volume Dice is computed exactly at this many thresholds
#: (those best without the filter); the others are left undefined for the threshold search.
_CC_SEARCH_POINTS = 32

__all__ = ["PerVolumeEvaluator"]


class PerVolumeEvaluator:
    """Each case (volume) is a unit."""

    name = "per-volume"
    threshold_free = False

    def __init__(self, options: PerVolumeOptions, *, device: str = "cpu") -> None:
        self.options = options
        self.device = device
        self.postproc = _postproc_text(options)
        where = "in-brain voxels" if options.region == "brain" else "all voxels"
        self.label = (
            f"per-volume 3-D: mean over test volumes, metrics over {where} (postproc={self.postproc}, native frame)"
        )

    def evaluate(self, request: EvaluationRequest) -> list[MetricRow]:
        """Rows for dice, jaccard, precision, recall, specificity, auroc and auprc of each volume."""
        scores, masks, brain = checked_arrays(request, self.name)
        reference = request.reference
        case_ids = np.asarray(reference.case_ids, dtype=object)
        rows: list[MetricRow] = []
        for case in dict.fromkeys(reference.case_ids):
            positions = np.flatnonzero(case_ids == case)
            arrays = (reference.slice_indices[positions], scores[positions], masks[positions], brain[positions])
            values, extras = self._evaluate_case(case, *arrays, threshold=request.threshold)
            rows += unit_rows(
                self.name, request, unit="volume", case_id=case, slice_index=None, values=values, extras=extras
            )
        return rows

    def _prepare_case(
        self, case: str, indices: np.ndarray, scores: np.ndarray, masks: np.ndarray, brain: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float | int | str]]:
        """The filtered map, truth and region volumes of one case, and its labelled columns."""
        options = self.options
        indices = indices.astype(np.int64)
        if np.unique(indices).size != indices.size:
            raise ContractError(f"{self.name}: case {case!r} has the same slice index more than once")
        depth_index = indices - indices.min()
        depth = int(depth_index.max()) + 1
        volume = np.zeros((depth, *scores.shape[1:]), dtype=np.float32)
        truth = np.zeros(volume.shape, dtype=bool)
        region = np.zeros(volume.shape, dtype=bool)
        volume[depth_index], truth[depth_index] = scores, masks
        region[depth_index] = brain if options.region == "brain" else True
        if options.erode_iterations:
            # Per slice in 2-D: a 3-D erosion would wipe out slices next to missing ones.
            region = np.stack([erode_mask(plane, options.erode_iterations) for plane in region])
        extras: dict[str, float | int | str] = {
            "n_slices": int(indices.size),
            "lesion_voxels": int(truth[region].sum()),
            "region_voxels": int(region.sum()),
            "region": options.region,
            "postproc": self.postproc,
            "frame": "native",
            "label": self.label,
        }
        if region.any():
            volume[~region] = volume[region].min()
            volume = median_filter_volume(volume, options.median_size)
        return volume, truth, region, extras

    def _binary(self, volume: np.ndarray, region: np.ndarray, threshold: float) -> np.ndarray:
        predicted = (volume >= np.float32(threshold)) & region
        return remove_small_components(predicted, self.options.min_component_size)

    def _evaluate_case(
        self,
        case: str,
        indices: np.ndarray,
        scores: np.ndarray,
        masks: np.ndarray,
        brain: np.ndarray,
        *,
        threshold: float,
    ) -> tuple[dict[str, float | None], dict[str, float | int | str]]:
        volume, truth, region, extras = self._prepare_case(case, indices, scores, masks, brain)
        if not region.any():
            return dict.fromkeys((*COUNT_METRICS, "auroc", "auprc")), extras
        predicted = self._binary(volume, region, threshold)
        counts = counts_from_masks(
            torch.from_numpy(predicted[None]), torch.from_numpy(truth[None]), torch.from_numpy(region[None])
        )
        values: dict[str, float | None] = {name: float(value[0]) for name, value in count_metrics(counts).items()}
        volume_t = torch.from_numpy(volume[region]).to(self.device)
        auroc, ap = auroc_ap_1d(volume_t, torch.from_numpy(truth[region]).to(self.device))
        values["auroc"] = value_or_none(auroc)
        values["auprc"] = value_or_none(ap)
        extras.update({name: int(getattr(counts, name)[0]) for name in ("tp", "fp", "fn", "tn")})
        return values, extras

    def dice_curve(
        self, scores: np.ndarray, reference: ReferenceSlices, thresholds: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Mean volume Dice at each threshold (what ``evaluate`` reports), and the number of volumes.

        Without a connected-component filter the curve is exact everywhere; with one, it is exact
        at the :data:`_CC_SEARCH_POINTS` thresholds that are best without the filter and undefined
        (NaN) elsewhere.
        """
        thresholds = np.asarray(thresholds, dtype=np.float64)
        case_ids = np.asarray(reference.case_ids, dtype=object)
        curves = []
        for case in dict.fromkeys(reference.case_ids):
            positions = np.flatnonzero(case_ids == case)
            arrays = (
                reference.slice_indices[positions],
                scores[positions],
                reference.masks[positions],
                reference.brain_masks[positions],
            )
            volume, truth, region, _ = self._prepare_case(case, *arrays)
            if region.any():
                curves.append((volume, truth, region, dice_at_thresholds(volume[region], truth[region], thresholds)))
        if not curves:
            return np.full(len(thresholds), np.nan), 0
        plain = np.mean([curve for *_, curve in curves], axis=0)
        if self.options.min_component_size <= 1:
            return plain, len(curves)
        exact = np.full(len(thresholds), np.nan)
        for index in np.argsort(-plain, kind="stable")[:_CC_SEARCH_POINTS]:
            values = []
            for volume, truth, region, _ in curves:
                predicted = self._binary(volume, region, float(thresholds[index]))
                values.append(float(dice_at_thresholds(predicted[region].astype(np.float32), truth[region], [0.5])[0]))
            exact[index] = float(np.mean(values))
        return exact, len(curves)


def _postproc_text(options: PerVolumeOptions) -> str:
    """E.g. ``"erode:1,median3d:5,cc>=8"``, or ``"none"``."""
    steps = []
    if options.erode_iterations:
        steps.append(f"erode:{options.erode_iterations}")
    if options.median_size > 1:
        steps.append(f"median3d:{options.median_size}")
    if options.min_component_size > 1:
        steps.append(f"cc>={options.min_component_size}")
    return ",".join(steps) or "none"
