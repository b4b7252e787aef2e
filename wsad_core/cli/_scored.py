"""Writing the scores of ``wsad eval --out`` and ``wsad predict --evaluate``: one way for both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsad_core.pipeline.evaluate import Evaluation
    from wsad_core.pipeline.plan import PipelinePlan

__all__ = ["write_scores"]


def write_scores(
    directory: Path,
    *,
    fingerprint: str,
    rows: Sequence[Mapping[str, Any]],
    summary: Sequence[Mapping[str, Any]],
    columns: Mapping[str, Any],
    plan: PipelinePlan,
    evaluation: Evaluation,
    header: Mapping[str, str],
) -> Path:
    """``metrics/`` per case and ``summary.{csv,json,md}`` in ``directory``; its lock is freed afterwards.

    ``header`` leads the summary; the thresholds each rule chose and the evaluators' notes follow it.
    """
    from wsad_core.pipeline.labels import describe_thresholds
    from wsad_core.results import RunDirectory, write_case_rows, write_summary

    rundir = RunDirectory.open(directory, config_fingerprint=fingerprint, resume=True)
    write_case_rows(list(rows), rundir, columns=dict(columns))
    labels = {e.name: e.spec.label or e.spec.summary for e in plan.evaluators}  # type: ignore[attr-defined]
    full = {
        **header,
        "thresholds": describe_thresholds(evaluation),
        **{f"note {i}": f"NOTE: {n}" for i, n in enumerate(evaluation.notes, 1)},
    }
    write_summary(list(summary), rundir, header=full, labels=labels)
    rundir.mark("finished")  # frees the folder's lock for the next writer
    return rundir.root
