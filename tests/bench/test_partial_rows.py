"""Rows whose runs did not all finish say so; every row gives its mean wall time per run."""

from __future__ import annotations

from wsad_core.bench.aggregate import aggregate
from wsad_core.bench.config import BenchConfig
from wsad_core.bench.report import render_overview


def _config(folds: int | None) -> BenchConfig:
    dataset = {"name": "five", "source": "demo"}
    if folds:
        dataset["split"] = {"folds": folds}
    return BenchConfig.model_validate(
        {"datasets": [dataset], "pipelines": [{"label": "zscore", "generator": {"name": "zscore"}}], "seeds": [0]}
    )


def _record(fold: int | None) -> dict:
    entry = {"target": "test", "protocol": "per-slice", "threshold_rule": "val-best", "metric": "dice", "mean": 0.5}
    return {"dataset": "five", "pipeline": "zscore", "seed": 0, "fold": fold, "status": "finished", "summary": [entry]}


def test_one_fold_of_five_is_partial():
    rows = aggregate([_record(0)], _config(5))
    assert {r["status"] for r in rows} == {"partial"}
    assert {r["reason"] for r in rows} == {"1 of 5 runs finished"}
    assert "partial: 1 of 5 runs finished" in render_overview(rows, _config(5))


def test_every_run_finished_is_finished():
    assert {r["status"] for r in aggregate([_record(f) for f in range(5)], _config(5))} == {"finished"}
    assert {r["status"] for r in aggregate([_record(None)], _config(None))} == {"finished"}


def _row_cells(table: str, label: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {label} "))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_overview_gives_the_mean_minutes_per_finished_run():
    records = [{**_record(f), "seconds": seconds} for f, seconds in enumerate((300.0, 420.0, 660.0, 600.0, 1020.0))]
    cells = _row_cells(render_overview(aggregate(records, _config(5)), _config(5)), "zscore")
    assert cells[-2:] == ["10", "finished"]  # (5 + 7 + 11 + 10 + 17) / 5 minutes
    short = _row_cells(
        render_overview(aggregate([{**_record(None), "seconds": 90.0}], _config(None)), _config(None)), "zscore"
    )
    assert short[-2] == "1.5"
    unknown = _row_cells(render_overview(aggregate([_record(None)], _config(None)), _config(None)), "zscore")
    assert unknown[-2] == "—"  # no seconds recorded
