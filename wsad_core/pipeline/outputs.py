"""Write a finished run's artefacts: metric rows, summary tables, NIfTI maps and overlays."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from wsad_core.data.frames import to_native
from wsad_core.deviations import Deviation, outline_deviations
from wsad_core.metrics.thresholds import is_oracle
from wsad_core.results import (
    radiological_view,
    save_overlay,
    summarise,
    write_case_rows,
    write_map_volume,
    write_summary,
)

if TYPE_CHECKING:
    from wsad_core.context import ProgressReporter
    from wsad_core.data.assemble import SplitSlices
    from wsad_core.pipeline.evaluate import Evaluation
    from wsad_core.pipeline.plan import PipelinePlan
    from wsad_core.results.rundir import RunDirectory

__all__ = ["write_maps", "write_overlays", "write_tables"]


def write_tables(
    rundir: RunDirectory,
    evaluation: Evaluation,
    plan: PipelinePlan,
    *,
    columns: dict[str, Any],
    header: dict[str, str],
    deviations: Sequence[Deviation] = (),
) -> list[dict[str, Any]]:
    """Long-format rows and the summary tables; returns the summary rows.

    ``columns`` (labels, selection, deviations, ...) go on every row of every file.
    """
    all_rows, summary = [], []
    for target, rows in evaluation.rows.items():
        all_rows.extend(
            dataclasses.replace(
                row, extras={"target": target, "oracle": is_oracle(row.threshold_rule, row.protocol), **row.extras}
            )
            for row in rows
        )
        summary.extend({"target": target, **columns, **entry} for entry in summarise(rows))
    write_case_rows(all_rows, rundir, columns=columns)
    labels = {e.name: e.spec.label or e.spec.summary for e in plan.evaluators}  # type: ignore[attr-defined]
    write_summary(summary, rundir, header=header, labels=labels, deviations=[d.to_dict() for d in deviations])
    return summary


def write_maps(rundir: RunDirectory, test: SplitSlices, test_native: np.ndarray, progress: ProgressReporter) -> None:
    """One NIfTI map per test volume, in the volume's own grid and affine."""
    case_ids = np.asarray(test.slices.case_ids)
    with progress.task("writing maps", total=len(test.cases)) as task:
        for case_id, case in test.cases.items():
            rows = np.flatnonzero(case_ids == case_id)
            write_map_volume(
                rundir.map_path(case_id),
                test_native[rows],
                test.slices.slice_indices[rows],
                case.native_shape,
                case.affine,
            )
            task.advance()


def write_overlays(
    rundir: RunDirectory,
    test: SplitSlices,
    test_native: np.ndarray,
    positions: list[int],
    pseudo_masks: np.ndarray | None,
    evaluation: Evaluation,
    *,
    deviations: Sequence[Deviation] = (),
    method: str = "",
) -> None:
    """PNG overlays (image, ground truth, pseudo-mask, prediction) of the chosen test slices.

    The contour uses the per-slice protocol's ``val-best`` threshold (else the first rule chosen
    without test labels); the title names the method and data (``method``), the case, the threshold,
    and outlines the run's deviations (substitutes first, as the deviations are ordered).
    """
    if not positions:
        return
    rule, threshold = "none", 0.5
    for candidate in ("val-best", *(r for chosen in evaluation.thresholds.values() for r in chosen)):
        found = evaluation.threshold_for(candidate)
        if found is not None and not is_oracle(candidate):
            rule, threshold = candidate, found
            break
    outline = outline_deviations(deviations, limit=120)
    native_hw = test_native.shape[1:]
    images = to_native(test.slices.images[positions, 0], native_hw)
    pseudo = None
    if pseudo_masks is not None:
        pseudo = to_native(pseudo_masks.astype(np.float32), native_hw) >= 0.5
    for i, position in enumerate(positions):
        case_id, k = test.slices.case_ids[position], int(test.slices.slice_indices[position])

        def view(array: np.ndarray, affine: np.ndarray = test.cases[case_id].affine) -> np.ndarray:
            return radiological_view(array, affine)

        title = f"{method + ' — ' if method else ''}{case_id} slice {k} — threshold {rule} = {threshold:.3g}"
        save_overlay(
            rundir.overlay_path(case_id, k),
            image=view(images[i]),
            truth=view(test.reference.masks[position]),
            pseudo=None if pseudo is None else view(pseudo[i]),
            prediction=view(test_native[position]),
            threshold=float(threshold),
            title=title + (f"\nnot the published method {outline}" if outline else ""),
        )
