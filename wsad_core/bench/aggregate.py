"""From job records to the benchmark's table rows: mean ± std over seeds, paper references, reasons."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from wsad_core.bench.config import BenchConfig
from wsad_core.bench.execute import JobRecord
from wsad_core.bench.paper import paper_number

__all__ = ["TableRow", "aggregate"]

TableRow = dict[str, Any]
_PAPER_METRICS = {"dice": "dice_pct", "auprc": "auprc_pct"}


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


def aggregate(records: list[JobRecord], config: BenchConfig) -> list[TableRow]:
    """One row per (dataset, pipeline, protocol, rule, metric) of the test results.

    Pipelines that produced nothing get a single row with ``status`` and ``reason``;
    reference-only pipelines get the paper's numbers with ``status="reference only"``.
    """
    by_cell: dict[tuple[str, str], list[JobRecord]] = defaultdict(list)
    for record in records:
        by_cell[(record["dataset"], record["pipeline"])].append(record)
    rows: list[TableRow] = []
    for dataset in config.datasets:
        for pipeline in config.pipelines:
            base = {"dataset": dataset.name, "pipeline": pipeline.label, "paper_dataset": dataset.paper_dataset}
            method = pipeline.paper_row or pipeline.label
            paper = paper_number(method, dataset.paper_dataset) if dataset.paper_dataset else None
            if pipeline.reference_only:
                for metric, column in _PAPER_METRICS.items():
                    rows.append(
                        {
                            **base,
                            "status": "reference only",
                            "reason": "not implemented in wsad",
                            "protocol": config.headline_protocol,
                            "threshold_rule": "",
                            "metric": metric,
                            "paper_value": getattr(paper, column) / 100 if paper else None,
                        }
                    )
                continue
            cell = sorted(by_cell.get((dataset.name, pipeline.label), []), key=lambda r: r["seed"])
            finished = [r for r in cell if r["status"] == "finished"]
            status, reason = _status(cell) if cell else "not run", _reason(cell)
            notes = sorted({n for r in finished for n in r.get("notes", [])})
            if not finished:
                for metric, column in _PAPER_METRICS.items():
                    rows.append(
                        {
                            **base,
                            "status": status,
                            "reason": reason,
                            "protocol": config.headline_protocol,
                            "threshold_rule": "",
                            "metric": metric,
                            "paper_value": getattr(paper, column) / 100 if paper else None,
                        }
                    )
                continue
            values: dict[tuple[str, str, str], list[tuple[int, float, float | None]]] = defaultdict(list)
            for record in finished:
                for entry in record["summary"]:
                    if entry.get("target", "test") != "test" or entry.get("mean") is None:
                        continue
                    key = (entry["protocol"], entry["threshold_rule"], entry["metric"])
                    values[key].append((record["seed"], float(entry["mean"]), entry.get("threshold")))
            for (protocol, rule, metric), seeded in values.items():
                means = [value for _, value, _ in seeded]
                thresholds = [t for _, _, t in seeded if t is not None]
                column = _PAPER_METRICS.get(metric)
                rows.append(
                    {
                        **base,
                        "status": status,
                        "reason": reason,
                        "notes": "; ".join(notes),
                        "protocol": protocol,
                        "threshold_rule": rule,
                        "metric": metric,
                        "mean": statistics.fmean(means),
                        "std": statistics.stdev(means) if len(means) > 1 else None,
                        "n_seeds": len(means),
                        "seeds": " ".join(str(s) for s, _, _ in seeded),
                        "threshold": statistics.fmean(thresholds) if thresholds else None,
                        "paper_value": getattr(paper, column) / 100
                        if paper and column and protocol == config.headline_protocol
                        else None,
                    }
                )
    return rows
