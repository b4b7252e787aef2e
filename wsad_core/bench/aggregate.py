"""From job records to the benchmark's table rows: mean ± std over seeds, paper references, deviations.

Every row says what it is (protocol, threshold rule, ``oracle``, frame, post-processing,
checkpoint selection, modality, validation set) and every way it departs from the published
method (``deviations``: the jobs' own plus the benchmark's, see
:mod:`wsad_core.bench.comparability`). ``comparable`` is true only for a row with a paper
number and no deviation at all.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from wsad_core.bench.comparability import pipeline_deviations, protocol_deviations
from wsad_core.bench.config import BenchConfig, BenchDataset, BenchPipeline
from wsad_core.bench.execute import JobRecord
from wsad_core.bench.paper import PAPER_PROTOCOL, paper_number
from wsad_core.deviations import Deviation, as_deviations, describe_deviations, merge_deviations
from wsad_core.metrics._rows import THRESHOLD_FREE
from wsad_core.metrics.thresholds import is_oracle

__all__ = ["ROW_LABELS", "TableRow", "aggregate", "row_deviations"]

TableRow = dict[str, Any]
_PAPER_METRICS = {"dice": "dice_pct", "auprc": "auprc_pct"}
#: Labelled columns copied from the jobs' summary rows (first seed) onto the table row.
ROW_LABELS = ("frame", "postproc", "selection", "modality", "n_val_patients", "n_val_units", "reference_baseline")


def _reason(records: list[JobRecord]) -> str:
    problems = [r for r in records if r["status"] != "finished"]
    if not problems:
        return ""
    first = problems[0]
    seeds = ", ".join(str(r["seed"]) for r in problems)
    return f"seed {seeds}: {first.get('error', first['status'])}"


def _status(records: list[JobRecord]) -> str:
    statuses = {r["status"] for r in records}
    if statuses == {"finished"}:
        return "finished"
    if "finished" in statuses:
        return "partial"
    return "unavailable" if statuses == {"unavailable"} else "failed"


def row_deviations(row: TableRow) -> list[Deviation]:
    """The deviations of a table row as records (rows store them as plain dicts)."""
    return as_deviations(row.get("deviations") or [])


def _paper_value(pipeline: BenchPipeline, dataset: BenchDataset, metric: str) -> float | None:
    column = _PAPER_METRICS.get(metric)
    method = pipeline.paper_method()
    if not (column and method and dataset.paper_dataset):
        return None
    paper = paper_number(method, dataset.paper_dataset, pipeline.paper_table)
    return getattr(paper, column) / 100 if paper else None


def _finish(row: TableRow, deviations: list[Deviation]) -> TableRow:
    """Attach the deviations, their text, and whether the row is comparable with its paper number."""
    merged = merge_deviations(deviations)
    row["deviations"] = [d.to_dict() for d in merged]
    row["n_deviations"] = len(merged)
    row["deviations_text"] = describe_deviations(merged, with_source=True)
    row["comparable"] = row.get("paper_value") is not None and not merged and row.get("mean") is not None
    return row


def _entries(records: list[JobRecord]) -> dict[tuple[str, str, str, str], list[tuple[JobRecord, dict[str, Any]]]]:
    by_key: dict[tuple[str, str, str, str], list[tuple[JobRecord, dict[str, Any]]]] = defaultdict(list)
    for record in records:
        for entry in record["summary"]:
            target = entry.get("target", "test")
            if entry.get("mean") is None:
                continue
            key = (target, entry["protocol"], entry["threshold_rule"], entry["metric"])
            by_key[key].append((record, entry))
    return by_key


def _minutes_per_run(finished: list[JobRecord]) -> float | None:
    """Mean wall time of the finished jobs, in minutes (``seconds`` of jobs.json; None when none was recorded)."""
    seconds = [float(r["seconds"]) for r in finished if r.get("seconds") is not None]
    return statistics.fmean(seconds) / 60 if seconds else None


def aggregate(records: list[JobRecord], config: BenchConfig) -> list[TableRow]:
    """One row per (dataset, pipeline, target, protocol, rule, metric) of the results.

    Values are mean ± std over every finished run (seeds, and folds under cross-validation).

    Pipelines that produced nothing get a row per paper metric with ``status`` and ``reason``;
    reference-only pipelines get the paper's numbers with ``status="reference only"``.
    """
    by_cell: dict[tuple[str, str], list[JobRecord]] = defaultdict(list)
    for record in records:
        by_cell[(record["dataset"], record["pipeline"])].append(record)
    rows: list[TableRow] = []
    for dataset in config.datasets:
        for pipeline in config.pipelines:
            base = {
                "dataset": dataset.name,
                "pipeline": pipeline.label,
                "paper_row": pipeline.paper_method() or "",
                "paper_table": pipeline.paper_table,
                "paper_dataset": dataset.paper_dataset,
                "target": "test",
            }
            bench_deviations = pipeline_deviations(pipeline, dataset)
            if pipeline.reference_only:
                for metric in _PAPER_METRICS:
                    row = {
                        **base,
                        "status": "reference only",
                        "reason": "not implemented in wsad",
                        "protocol": config.headline_protocol,
                        "threshold_rule": "",
                        "metric": metric,
                        "paper_value": _paper_value(pipeline, dataset, metric),
                    }
                    rows.append(_finish(row, []))
                continue
            cell = sorted(by_cell.get((dataset.name, pipeline.label), []), key=lambda r: r["seed"])
            finished = [r for r in cell if r["status"] == "finished"]
            status, reason = _status(cell) if cell else "not run", _reason(cell)
            planned = len(config.seeds) * (dataset.split.folds or 1)
            if finished and len(finished) < planned:  # a mean over some of the runs is not the row's result yet
                counted = f"{len(finished)} of {planned} runs finished"
                status, reason = "partial", f"{counted}; {reason}" if reason else counted
            notes = sorted({n for r in finished for n in r.get("notes", [])})
            job_deviations = [d for r in finished for d in as_deviations(r.get("deviations") or [])]
            if not finished:
                for metric in _PAPER_METRICS:
                    row = {
                        **base,
                        "status": status,
                        "reason": reason,
                        "protocol": config.headline_protocol,
                        "threshold_rule": "",
                        "metric": metric,
                        "paper_value": _paper_value(pipeline, dataset, metric),
                    }
                    rows.append(_finish(row, bench_deviations))
                continue
            for (target, protocol, rule, metric), runs in _entries(finished).items():
                means = [float(entry["mean"]) for _, entry in runs]
                thresholds = [float(e["threshold"]) for _, e in runs if e.get("threshold") is not None]
                seeds = sorted({int(r["seed"]) for r, _ in runs})
                folds = sorted({int(r["fold"]) for r, _ in runs if r.get("fold") is not None})
                first = runs[0][1]
                paper = _paper_value(pipeline, dataset, metric) if target == "test" else None
                if protocol != config.headline_protocol:
                    paper = None
                row = {
                    **base,
                    "target": target,
                    "status": status,
                    "reason": reason,
                    "notes": "; ".join(notes),
                    "protocol": protocol,
                    "threshold_rule": rule,
                    "oracle": is_oracle(rule, protocol),
                    "metric": metric,
                    "mean": statistics.fmean(means),
                    "std": statistics.stdev(means) if len(means) > 1 else None,
                    "n_seeds": len(seeds),
                    "seeds": " ".join(str(s) for s in seeds),
                    "n_folds": len(folds) or None,
                    "n_runs": len(means),
                    "threshold": statistics.fmean(thresholds) if thresholds else None,
                    "minutes_per_run": _minutes_per_run(finished),
                    "paper_value": paper,
                    **{name: first.get(name) for name in ROW_LABELS if first.get(name) is not None},
                }
                # AUROC and AUPRC do not depend on the threshold: only the protocol and frame count for them.
                judged_rule = PAPER_PROTOCOL.threshold_rule if metric in THRESHOLD_FREE else rule
                evaluation = protocol_deviations(protocol, judged_rule, first.get("frame")) if paper is not None else []
                rows.append(_finish(row, [*job_deviations, *bench_deviations, *evaluation]))
    return rows
