"""The core's built-in evaluation protocols, as :class:`~wsad_core.specs.EvaluatorSpec`.

``per-slice`` (RASALoRE's protocol, the headline), ``pooled``, ``per-volume`` and
``slice-detection``; definitions in shared/docs/evaluation.md §3.1. This module imports
no torch: ``wsad plugins`` lists the specs without running them, and the evaluator
classes in :mod:`wsad_core.metrics._protocols` load only when a factory is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wsad_core.specs import EvaluatorSpec

if TYPE_CHECKING:
    from wsad_core.context import BuildContext
    from wsad_core.roles import Evaluator

__all__ = [
    "PerSliceOptions",
    "PerVolumeOptions",
    "PooledOptions",
    "SliceDetectionOptions",
    "evaluator_specs",
]

_RASALORE = "Sharma, Jaganathan, Palaniappan, BMVC 2025 (RASALoRE), official test.py"


class PerSliceOptions(BaseModel):
    """Options of the ``per-slice`` protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_lesion_pixels: int = Field(
        200,
        ge=0,
        description="A slice counts only with MORE than this many lesion pixels in the native frame "
        "(RASALoRE: GT > 200 px, official evaluation).",
    )
    region: Literal["slice", "brain"] = Field(
        "slice",
        description="Pixels each slice's metrics run over: 'slice' = the whole slice (in the crop256 frame: the "
        "whole 256² crop), 'brain' = in-brain pixels only (native frame only).",
    )
    frame: Literal["native", "crop256"] = Field(
        "native",
        description="Where each slice is scored: 'native' = the volume's own grid (maps resampled to it); "
        "'crop256' = RASALoRE's official frame (crop to the brain box of the slice's gamma image, ground truth "
        "via 128² > 0.5 then 256² > 0, maps resized into the box at 256²): the frame of the paper's numbers "
        "(official evaluation).",
    )

    @model_validator(mode="after")
    def _check_frame(self) -> PerSliceOptions:
        if self.frame == "crop256" and self.region == "brain":
            raise ValueError("region='brain' is for the native frame; the crop256 frame scores the whole crop")
        return self


class PooledOptions(BaseModel):
    """Options of the ``pooled`` protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: Literal["brain", "slice"] = Field(
        "brain",
        description="Pixels pooled: 'brain' = in-brain pixels of every slice (pooled AP "
        "inside the brain mask), 'slice' = every pixel.",
    )


class PerVolumeOptions(BaseModel):
    """Options of the ``per-volume`` protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    median_size: int = Field(
        0, ge=0, description="Side of the cubic 3-D median filter applied to the map, in voxels (0 = off; 5 or 7)."
    )
    min_component_size: int = Field(
        0,
        ge=0,
        description="Connected components (26-connected) of the binarised volume with fewer voxels are removed "
        "(0 = off; 8 reproduces Behrendt et al.'s 'CC <= 7 removed').",
    )
    erode_iterations: int = Field(
        0, ge=0, description="Binary erosion steps applied to the brain mask before scoring (0 = off)."
    )
    region: Literal["brain", "slice"] = Field(
        "brain", description="Voxels scored: 'brain' = in-brain voxels (the map is x brain mask), 'slice' = all."
    )


class SliceDetectionOptions(BaseModel):
    """Options of the ``slice-detection`` protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reduce: Literal["max", "mean", "p99"] = Field(
        "max",
        description="Slice score from the map inside the brain: maximum, mean or 99th percentile (max or mean).",
    )


def evaluator_specs() -> list[EvaluatorSpec]:
    """The four built-in protocols.

    Returns:
        Specs for ``per-slice``, ``pooled``, ``per-volume`` and ``slice-detection``.
    """
    return [
        EvaluatorSpec(
            name="per-slice",
            summary="RASALoRE protocol: metrics per anomalous slice (GT > 200 px), averaged over slices.",
            options=PerSliceOptions,
            factory=_per_slice,
            label="RASALoRE per-slice: mean over test slices with > 200 lesion px (frame: see the frame column)",
            headline=True,
            citation=_RASALORE,
        ),
        EvaluatorSpec(
            name="pooled",
            summary="All in-brain pixels of all test slices pooled (healthy slices included): one value.",
            options=PooledOptions,
            factory=_pooled,
            label="pooled: all in-brain pixels of all test slices, healthy slices included (native frame)",
            # Dominated by large tumours and usually paired with an oracle threshold (evaluation.md §3.1).
            headline=False,
        ),
        EvaluatorSpec(
            name="per-volume",
            summary="3-D per volume (optional median and connected-component filters), averaged over volumes.",
            options=PerVolumeOptions,
            factory=_per_volume,
            label="per-volume 3-D: mean over test volumes of in-brain voxel metrics (native frame)",
            headline=True,
            citation="Behrendt et al. (pDDPM/cDDPM), volume protocol of their code",
        ),
        EvaluatorSpec(
            name="slice-detection",
            summary="Weak-label task: slice score = max of the map in the brain; AUROC/AP over slices.",
            options=SliceDetectionOptions,
            factory=_slice_detection,
            label="slice detection: AUROC/AP of the max in-brain map value over test slices with brain",
            headline=True,
        ),
    ]


def _per_slice(options: PerSliceOptions, context: BuildContext) -> Evaluator:
    from wsad_core.metrics._protocols import PerSliceEvaluator

    return PerSliceEvaluator(options, device=context.device)


def _pooled(options: PooledOptions, context: BuildContext) -> Evaluator:
    from wsad_core.metrics._protocols import PooledEvaluator

    return PooledEvaluator(options, device=context.device)


def _per_volume(options: PerVolumeOptions, context: BuildContext) -> Evaluator:
    from wsad_core.metrics._volume import PerVolumeEvaluator

    return PerVolumeEvaluator(options, device=context.device)


def _slice_detection(options: SliceDetectionOptions, context: BuildContext) -> Evaluator:
    from wsad_core.metrics._protocols import SliceDetectionEvaluator

    return SliceDetectionEvaluator(options, device=context.device)
