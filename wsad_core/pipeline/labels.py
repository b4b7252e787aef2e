"""What a run says about itself on every row: deviations, checkpoint selection, thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from wsad_core.deviations import Deviation, merge_deviations

if TYPE_CHECKING:
    from wsad_core.pipeline.data_stage import RunData
    from wsad_core.pipeline.evaluate import Evaluation
    from wsad_core.pipeline.stages import StageOutputs

__all__ = ["NO_SELECTION", "describe_selection", "describe_thresholds", "run_deviations"]

#: ``selection`` of a run whose stages chose no checkpoint (nothing trained, or nothing said).
NO_SELECTION = "none (no checkpoint choice)"


def run_deviations(data: RunData, outputs: StageOutputs) -> list[Deviation]:
    """The plugins' deviations plus the core's own: synthetic data is never a paper's data."""
    core = []
    if data.index.synthetic:
        core.append(
            Deviation(
                kind="data",
                what="dataset",
                used=f"synthetic ({data.index.name})",
                published="real patient MRI",
                source="core",
            )
        )
    return merge_deviations(outputs.deviations, core)


def describe_selection(selection: Mapping[str, str]) -> str:
    """``"segmenter: last epoch"`` (one entry per trained role), or :data:`NO_SELECTION`."""
    return "; ".join(f"{role}: {how}" for role, how in selection.items()) or NO_SELECTION


def describe_thresholds(evaluation: Evaluation) -> str:
    """``"per-slice: fixed:0.5 = 0.5, val-best = 0.41, oracle = 0.38; pooled: ..."``."""
    parts = []
    for protocol, chosen in evaluation.thresholds.items():
        if not chosen:
            continue
        shown = ", ".join(f"{rule} = {'skipped' if t is None else f'{t:.4g}'}" for rule, t in chosen.items())
        parts.append(f"{protocol}: {shown}")
    return "; ".join(parts) or "none (threshold-free protocols only)"
