"""Typed records that flow between the core and the plugins.

A weakly supervised method sees only :class:`SliceSet` (images, brain masks and
image-level labels); pixel-level ground truth stays in :class:`ReferenceSlices`, which
only evaluators receive. Arrays are numpy so that they can be memory-mapped from the
slice cache and handed to torch without a copy (``torch.from_numpy``).

Every record validates its shapes and dtypes on construction and raises
:class:`~wsad_core.errors.ContractError` naming the offending field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

import numpy as np

from wsad_core.errors import ContractError

__all__ = [
    "Label",
    "MapKind",
    "MaskSet",
    "MetricRow",
    "ReferenceSlices",
    "RunInfo",
    "RunOutcome",
    "ScoreMaps",
    "SliceSet",
]

MapKind = Literal["probability", "score"]
Index = slice | Sequence[int] | np.ndarray


class Label(IntEnum):
    """Image-level (slice) label. ``UNKNOWN`` is what methods see on test slices."""

    UNKNOWN = -1
    HEALTHY = 0
    ANOMALOUS = 1


def _require(condition: bool, record: str, message: str) -> None:
    if not condition:
        raise ContractError(f"{record}: {message}")


def _check_stack(record: str, name: str, array: np.ndarray, n: int, hw: tuple[int, int]) -> None:
    _require(isinstance(array, np.ndarray), record, f"{name} must be a numpy array, got {type(array).__name__}")
    _require(array.ndim == 3, record, f"{name} must have shape (N, H, W), got {array.shape}")
    _require(array.shape == (n, *hw), record, f"{name} has shape {array.shape}, expected {(n, *hw)}")


def _as_index(index: Index) -> slice | np.ndarray:
    return index if isinstance(index, slice) else np.asarray(index)


@dataclass(frozen=True, slots=True, eq=False)
class SliceSet:
    """Preprocessed 2-D slices with what a weakly supervised method may use.

    Attributes:
        images: ``(N, C, H, W)`` float32, intensities normalised per volume to ``[0, 1]``
            inside the brain and 0 outside it.
        brain_masks: ``(N, H, W)`` bool.
        labels: ``(N,)`` int8 :class:`Label` values; test slices carry ``UNKNOWN``.
        case_ids: the patient/volume each slice comes from.
        slice_indices: ``(N,)`` index of the slice along the volume's axial axis.
        modalities: channel names of ``images`` (``"flair"``, ``"t1"``, ``"t1ce"``, ``"t2"``).
    """

    images: np.ndarray
    brain_masks: np.ndarray
    labels: np.ndarray
    case_ids: tuple[str, ...]
    slice_indices: np.ndarray
    modalities: tuple[str, ...]

    def __post_init__(self) -> None:
        record = "SliceSet"
        _require(
            isinstance(self.images, np.ndarray) and self.images.ndim == 4,
            record,
            f"images must be a (N, C, H, W) array, got {getattr(self.images, 'shape', None)}",
        )
        _require(self.images.dtype == np.float32, record, f"images must be float32, got {self.images.dtype}")
        n, c, h, w = self.images.shape
        _require(
            c == len(self.modalities),
            record,
            f"images have {c} channels but modalities name {len(self.modalities)}: {self.modalities}",
        )
        _check_stack(record, "brain_masks", self.brain_masks, n, (h, w))
        _require(self.brain_masks.dtype == np.bool_, record, f"brain_masks must be bool, got {self.brain_masks.dtype}")
        _require(self.labels.shape == (n,), record, f"labels must have shape ({n},), got {self.labels.shape}")
        _require(bool(np.isin(self.labels, (-1, 0, 1)).all()), record, "labels must be -1, 0 or 1")
        _require(len(self.case_ids) == n, record, f"{len(self.case_ids)} case_ids for {n} slices")
        _require(
            self.slice_indices.shape == (n,),
            record,
            f"slice_indices must have shape ({n},), got {self.slice_indices.shape}",
        )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def spatial_shape(self) -> tuple[int, int]:
        """``(H, W)`` of every slice."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    def select(self, index: Index) -> SliceSet:
        """The slices at ``index`` (a slice, integer positions or a boolean mask)."""
        index = _as_index(index)
        case_ids = np.asarray(self.case_ids, dtype=object)[index]
        return SliceSet(
            images=self.images[index],
            brain_masks=self.brain_masks[index],
            labels=self.labels[index],
            case_ids=tuple(str(c) for c in np.atleast_1d(case_ids)),
            slice_indices=self.slice_indices[index],
            modalities=self.modalities,
        )

    def with_labels_hidden(self) -> SliceSet:
        """The same slices with every label set to ``UNKNOWN`` (what test-time methods see)."""
        hidden = np.full_like(self.labels, Label.UNKNOWN)
        return SliceSet(self.images, self.brain_masks, hidden, self.case_ids, self.slice_indices, self.modalities)

    def where_label(self, label: Label) -> np.ndarray:
        """Integer positions of the slices carrying ``label``."""
        return np.flatnonzero(self.labels == label)

    def fingerprint(self) -> str:
        """sha256 over the arrays and identifiers: equal fingerprints mean equal content."""
        digest = hashlib.sha256()
        for array in (self.images, self.brain_masks, self.labels, self.slice_indices):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update("\0".join(self.case_ids).encode())
        digest.update("\0".join(self.modalities).encode())
        return digest.hexdigest()

    @classmethod
    def concatenate(cls, parts: Sequence[SliceSet]) -> SliceSet:
        """One set holding ``parts`` in order; all parts must share modalities and size."""
        if not parts:
            raise ContractError("SliceSet.concatenate: nothing to concatenate")
        modalities = parts[0].modalities
        if any(p.modalities != modalities for p in parts):
            raise ContractError("SliceSet.concatenate: parts have different modalities")
        return cls(
            images=np.concatenate([p.images for p in parts]),
            brain_masks=np.concatenate([p.brain_masks for p in parts]),
            labels=np.concatenate([p.labels for p in parts]),
            case_ids=tuple(c for p in parts for c in p.case_ids),
            slice_indices=np.concatenate([p.slice_indices for p in parts]),
            modalities=modalities,
        )


@dataclass(frozen=True, slots=True, eq=False)
class MaskSet:
    """Pseudo-masks for a :class:`SliceSet`, one per slice, in the same order and frame.

    Attributes:
        soft: ``(N, H, W)`` float32 in ``[0, 1]`` (a generator's normalised map).
        masks: ``(N, H, W)`` bool, the binary pseudo-mask a segmenter trains on.
        source: provenance, e.g. ``"zscore"`` or ``"ddpt+medsam"``.
        upstream: for refined masks, the generator's masks of the same slices (RASALoRE
            trains on both: the DDPT mask and its MedSAM refinement); ``None`` otherwise.
    """

    soft: np.ndarray
    masks: np.ndarray
    source: str = ""
    upstream: MaskSet | None = None

    def __post_init__(self) -> None:
        record = f"MaskSet({self.source or 'unnamed'})"
        _require(
            isinstance(self.soft, np.ndarray) and self.soft.ndim == 3,
            record,
            f"soft must be a (N, H, W) array, got {getattr(self.soft, 'shape', None)}",
        )
        _require(self.soft.dtype == np.float32, record, f"soft must be float32, got {self.soft.dtype}")
        _check_stack(record, "masks", self.masks, self.soft.shape[0], self.soft.shape[1:])
        _require(self.masks.dtype == np.bool_, record, f"masks must be bool, got {self.masks.dtype}")
        _require(bool(np.isfinite(self.soft).all()), record, "soft contains NaN or Inf")
        if self.soft.size:
            low, high = float(self.soft.min()), float(self.soft.max())
            _require(low >= 0.0 and high <= 1.0, record, f"soft must lie in [0, 1], got [{low:.4g}, {high:.4g}]")
        if self.upstream is not None:
            _require(
                self.upstream.soft.shape == self.soft.shape,
                record,
                f"upstream masks have shape {self.upstream.soft.shape}, expected {self.soft.shape}",
            )

    def __len__(self) -> int:
        return int(self.soft.shape[0])

    def select(self, index: Index) -> MaskSet:
        """The masks at ``index`` (and the same slices of ``upstream``)."""
        index = _as_index(index)
        upstream = self.upstream.select(index) if self.upstream is not None else None
        return MaskSet(self.soft[index], self.masks[index], self.source, upstream)


@dataclass(frozen=True, slots=True, eq=False)
class ScoreMaps:
    """A segmenter's output for a :class:`SliceSet`: one continuous map per slice.

    Attributes:
        scores: ``(N, H, W)`` float32, finite; higher means more anomalous.
        kind: ``"probability"`` (calibrated to ``[0, 1]``, a fixed 0.5 is meaningful) or
            ``"score"`` (any range; needs a threshold rule chosen on data).
    """

    scores: np.ndarray
    kind: MapKind = "probability"

    def __post_init__(self) -> None:
        record = "ScoreMaps"
        _require(
            isinstance(self.scores, np.ndarray) and self.scores.ndim == 3,
            record,
            f"scores must be a (N, H, W) array, got {getattr(self.scores, 'shape', None)}",
        )
        _require(self.scores.dtype == np.float32, record, f"scores must be float32, got {self.scores.dtype}")
        _require(self.kind in ("probability", "score"), record, f"unknown kind {self.kind!r}")
        _require(bool(np.isfinite(self.scores).all()), record, "scores contain NaN or Inf")
        if self.kind == "probability" and self.scores.size:
            low, high = float(self.scores.min()), float(self.scores.max())
            _require(
                low >= 0.0 and high <= 1.0, record, f"probability maps must lie in [0, 1], got [{low:.4g}, {high:.4g}]"
            )

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def select(self, index: Index) -> ScoreMaps:
        """The maps at ``index``."""
        return ScoreMaps(self.scores[_as_index(index)], self.kind)


@dataclass(frozen=True, slots=True, eq=False)
class ReferenceSlices:
    """Pixel-level ground truth in the native frame of each volume; seen only by evaluators.

    Attributes:
        masks: ``(N, H0, W0)`` bool lesion masks (whole tumour).
        brain_masks: ``(N, H0, W0)`` bool.
        case_ids: volume of each slice.
        slice_indices: ``(N,)`` axial index of each slice in its volume.
        crop_boxes: optional ``(N, 4)`` int32 ``(top, bottom, left, right)`` of RASALoRE's crop
            frame in the native grid (``-1`` rows for slices without one); what the ``crop256``
            evaluation frame needs.
    """

    masks: np.ndarray
    brain_masks: np.ndarray
    case_ids: tuple[str, ...]
    slice_indices: np.ndarray
    crop_boxes: np.ndarray | None = None

    def __post_init__(self) -> None:
        record = "ReferenceSlices"
        _require(
            isinstance(self.masks, np.ndarray) and self.masks.ndim == 3,
            record,
            f"masks must be a (N, H, W) array, got {getattr(self.masks, 'shape', None)}",
        )
        _require(self.masks.dtype == np.bool_, record, f"masks must be bool, got {self.masks.dtype}")
        n = self.masks.shape[0]
        _check_stack(record, "brain_masks", self.brain_masks, n, self.masks.shape[1:])
        _require(len(self.case_ids) == n, record, f"{len(self.case_ids)} case_ids for {n} slices")
        _require(self.slice_indices.shape == (n,), record, "slice_indices must have one entry per slice")
        if self.crop_boxes is not None:
            _require(self.crop_boxes.shape == (n, 4), record, f"crop_boxes must have shape ({n}, 4)")

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def select(self, index: Index) -> ReferenceSlices:
        """The slices at ``index``."""
        index = _as_index(index)
        case_ids = np.atleast_1d(np.asarray(self.case_ids, dtype=object)[index])
        boxes = None if self.crop_boxes is None else np.atleast_2d(self.crop_boxes[index])
        return ReferenceSlices(
            self.masks[index],
            self.brain_masks[index],
            tuple(str(c) for c in case_ids),
            self.slice_indices[index],
            boxes,
        )


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One metric of one evaluation unit, the long-format row every output is built from.

    Attributes:
        protocol: evaluator name, e.g. ``"per-slice"``.
        unit: ``"slice"``, ``"volume"`` or ``"pooled"``.
        case_id: the volume, or ``"*"`` for pooled units.
        slice_index: axial index for slice units, else ``None``.
        metric: ``"dice"``, ``"auprc"``, ...
        value: the metric, or ``None`` where it is undefined for this unit (e.g. AUROC
            of a unit without lesion pixels); aggregations skip and count those.
        threshold_rule: how the binarisation threshold was chosen (``"fixed"``, ...).
        threshold: the threshold used, ``None`` for threshold-free metrics.
        extras: further labelled columns (e.g. ``{"lesion_pixels": 812}``).
    """

    protocol: str
    unit: str
    case_id: str
    slice_index: int | None
    metric: str
    value: float | None
    threshold_rule: str
    threshold: float | None
    extras: dict[str, float | int | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run as observers see it.

    Attributes:
        run_id: the run directory's name.
        run_dir: where the run writes its results.
        config: the resolved configuration, as plain data.
        device: the resolved device.
        seed: the run's seed.
    """

    run_id: str
    run_dir: str
    config: dict[str, object]
    device: str
    seed: int


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended.

    Attributes:
        run: the run.
        summary: the summary table's rows (protocol, threshold rule, metric, mean, ...).
        error: ``None`` on success, else the one-line error that stopped the run.
    """

    run: RunInfo
    summary: tuple[dict[str, object], ...]
    error: str | None = None
