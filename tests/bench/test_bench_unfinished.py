"""Benchmarks in which jobs do not finish: the table is written, the status and the exit code say so."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from wsad_core import PluginHost
from wsad_core.bench import BenchConfig, run_bench
from wsad_core.bench import runner as bench_runner
from wsad_core.cli import main

PREPROCESS = {"skip_first": 4, "skip_last": 4, "size": 32, "min_lesion_pixels": 20}
EVALUATION = {"protocol_options": {"per-slice": {"min_lesion_pixels": 20}}}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path / "cache"))


def _config(source: Path | str, pipelines: list[dict], name: str = "unfinished") -> dict:
    return {
        "name": name,
        "datasets": [{"name": "phantoms", "source": str(source), "preprocess": PREPROCESS, "paper_dataset": "BraTS20"}],
        "pipelines": pipelines,
        "seeds": [0],
        "evaluation": EVALUATION,
        "overlays": 0,
    }


#: One job fails at run time (its dataset folder is missing), one cannot run (no such plugin).
NOTHING_FINISHES = [
    {"label": "zscore", "generator": {"name": "zscore"}},
    {"label": "RASALoRE", "generator": {"name": "no-such-generator"}},
    {"label": "VQVAE", "reference_only": True},
]


def _run_json(directory: Path) -> dict:
    return json.loads((directory / "run.json").read_text())


def test_a_benchmark_where_no_job_finishes_writes_every_row_with_its_reason_and_is_marked_failed(tmp_path):
    out = tmp_path / "bench"
    config = BenchConfig.model_validate(_config(tmp_path / "no-such-data", NOTHING_FINISHES))
    outcome = run_bench(config, PluginHost(), out_dir=out)

    assert outcome.none_finished
    assert outcome.unfinished == {"failed": 1, "unavailable": 1}
    line = outcome.problem_line()
    assert line == f"2 of 2 jobs did not finish: 1 failed, 1 unavailable — see {out / 'summary.md'}"
    status = _run_json(out)
    assert (status["status"], status["error"]) == ("failed", line)
    assert status["finished_at"] is not None
    assert not (out / "run.lock").exists(), "the benchmark's lock is released"

    with (out / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    by_pipeline = {r["pipeline"]: r for r in rows}
    assert by_pipeline["zscore"]["status"] == "failed"
    assert "dataset folder does not exist" in by_pipeline["zscore"]["reason"]
    assert by_pipeline["RASALoRE"]["status"] == "unavailable"
    assert "not installed" in by_pipeline["RASALoRE"]["reason"]
    assert by_pipeline["VQVAE"]["status"] == "reference only"
    markdown = (out / "summary.md").read_text()
    assert "no job has a value" in markdown
    assert "failed: seed 0: DataError" in markdown
    assert "unavailable: seed 0: not installed" in markdown
    latex = (out / "summary.tex").read_text()
    assert latex.count(r"\begin{table}") == 1, "a table even without values"
    assert "not finished: zscore -- failed: seed 0: DataError" in latex
    assert "not finished: RASALoRE -- unavailable" in latex

    # Resuming it runs the jobs again (nothing was reused) and, the lock being free, is allowed.
    again = run_bench(config, PluginHost(), out_dir=out, resume=True)
    assert again.unfinished == {"failed": 1, "unavailable": 1}
    assert _run_json(out)["resumed"] == 1


def test_an_error_while_writing_the_tables_marks_the_benchmark_failed_and_frees_it(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("mean")

    monkeypatch.setattr(bench_runner, "write_reports", broken)
    out = tmp_path / "bench"
    config = BenchConfig.model_validate(_config(tmp_path / "no-such-data", NOTHING_FINISHES))
    with pytest.raises(KeyError):
        run_bench(config, PluginHost(), out_dir=out)
    status = _run_json(out)
    assert (status["status"], status["error"]) == ("failed", "KeyError: 'mean'")
    assert not (out / "run.lock").exists()


def _bench_cli(capsys, tmp_path: Path, config: dict) -> tuple[int, str, str, Path]:
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    code = main(["-q", "bench", str(path), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, out


def test_wsad_bench_exits_non_zero_with_one_line_when_no_job_finishes(capsys, tmp_path):
    code, stdout, stderr, out = _bench_cli(capsys, tmp_path, _config(tmp_path / "no-such-data", NOTHING_FINISHES))
    assert code == 1
    expected = f"error: 2 of 2 jobs did not finish: 1 failed, 1 unavailable — see {out / 'summary.md'}"
    assert expected in stderr.splitlines()
    assert f"results: {out}/summary.md" in stdout
    for name in ("summary.md", "summary.csv", "summary.tex"):
        assert (out / name).is_file(), name


def test_wsad_bench_exits_zero_and_counts_the_jobs_that_did_not_finish_when_some_finish(
    capsys, tmp_path, phantom_dataset
):
    pipelines = [
        {"label": "zscore", "generator": {"name": "zscore"}},
        {"label": "RASALoRE", "generator": {"name": "no-such-generator"}},
    ]
    code, _, stderr, out = _bench_cli(capsys, tmp_path, _config(phantom_dataset, pipelines))
    assert code == 0
    expected = f"warning: 1 of 2 jobs did not finish: 1 unavailable — see {out / 'summary.md'}"
    assert expected in stderr.splitlines()
    assert _run_json(out)["status"] == "finished"


def test_wsad_bench_prints_no_such_line_when_every_job_finishes(capsys, tmp_path, phantom_dataset):
    pipelines = [{"label": "zscore", "generator": {"name": "zscore"}}, {"label": "VQVAE", "reference_only": True}]
    code, _, stderr, _ = _bench_cli(capsys, tmp_path, _config(phantom_dataset, pipelines))
    assert code == 0
    assert "did not finish" not in stderr


EXITING_PLUGIN = """
from pydantic import BaseModel, ConfigDict
from wsad_core import SegmenterSpec, hookimpl

class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

class Exits:
    def __init__(self, options, context):
        pass
    def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
        raise SystemExit(3)
    def predict(self, slices):
        raise AssertionError("unreachable")

@hookimpl
def wsad_register_segmenters():
    return [SegmenterSpec(name="test-exits", summary="t", options=NoOptions, factory=Exits, version="1")]
"""


def test_a_plugin_exiting_during_a_job_fails_that_job_and_the_benchmark_goes_on(phantom_dataset, tmp_path, monkeypatch):
    plugin = tmp_path / "exiting_plugin.py"
    plugin.write_text(EXITING_PLUGIN)
    monkeypatch.setenv("WSAD_PLUGINS_PATH", str(plugin))
    pipelines = [
        {"label": "exits", "generator": {"name": "zscore"}, "segmenter": {"name": "test-exits"}},
        {"label": "zscore", "generator": {"name": "zscore"}},
    ]
    outcome = run_bench(
        BenchConfig.model_validate(_config(phantom_dataset, pipelines)), PluginHost(), out_dir=tmp_path / "b"
    )
    statuses = {r["pipeline"]: r["status"] for r in outcome.records}
    assert statuses == {"exits": "failed", "zscore": "finished"}
    assert "SystemExit: 3" in next(r["error"] for r in outcome.records if r["pipeline"] == "exits")
