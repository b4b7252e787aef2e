"""A row whose runs did not all finish says so, with how many did: its mean is not yet the row's result."""

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
