"""Every output of a benchmark says, on the row, how that row departs from the published method."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wsad_core import PluginHost
from wsad_core.bench import BenchConfig, run_bench
from wsad_core.bench.aggregate import aggregate
from wsad_core.bench.plots import bar_labels
from wsad_core.bench.report import render_markdown, render_overview
from wsad_core.bench.runner import bench_header, load_bench_records

PLUGIN = '''
import numpy as np
from pydantic import BaseModel, ConfigDict
from wsad_core import Deviation, GeneratorSpec, MaskSet, hookimpl

class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

class RandomInit:
    """A generator that says it runs without its pretrained weights."""
    deviations = (Deviation(kind="weights", what="backbone weights", used="random init", published="released"),)
    checkpoint_selection = "last epoch"
    def __init__(self, options, context):
        pass
    def fit(self, train, *, validation=None):
        pass
    def generate(self, slices):
        soft = np.clip(slices.images[:, 0] * 1.2 - 0.2, 0, 1).astype(np.float32)
        return MaskSet(soft, soft > 0.6, "random-init")

@hookimpl
def wsad_register_generators():
    return [GeneratorSpec(name="test-random-init", summary="t", options=NoOptions, factory=RandomInit, version="1")]
'''

DATA = {
    "name": "phantoms",
    "preprocess": {"skip_first": 4, "skip_last": 4, "size": 32, "min_lesion_pixels": 20},
    "paper_dataset": "BraTS20",
}
SUBSTITUTES = "generator test-random-init instead of ddpt"


@pytest.fixture(scope="module")
def bench(phantom_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("deviations")
    plugin = root / "deviation_plugin.py"
    plugin.write_text(PLUGIN)
    previous = {k: os.environ.get(k) for k in ("WSAD_PLUGINS_PATH", "WSAD_CACHE")}
    os.environ.update(WSAD_PLUGINS_PATH=str(plugin), WSAD_CACHE=str(root / "cache"))
    try:
        config = BenchConfig.model_validate(
            {
                "name": "deviations",
                "datasets": [{**DATA, "source": str(phantom_dataset)}],
                "pipelines": [
                    {"label": "DDPT", "generator": {"name": "test-random-init"}},
                    {"label": "zscore", "paper_row": None, "generator": {"name": "zscore"}},
                    {"label": "VQVAE", "reference_only": True},
                ],
                "evaluation": {"protocol_options": {"per-slice": {"min_lesion_pixels": 20}}},
                "overlays": 1,
            }
        )
        outcome = run_bench(config, PluginHost(), out_dir=root / "out")
        yield config, outcome, plugin
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def test_rows_carry_their_deviations(bench):
    _, outcome, _ = bench
    ddpt = [r for r in outcome.rows if r["pipeline"] == "DDPT" and r["target"] == "test"]
    assert ddpt
    for row in ddpt:
        kinds = {d["kind"] for d in row["deviations"]}
        assert {"weights", "substitute", "modality", "data"} <= kinds, row
        assert not row["comparable"]
    paper = [r for r in ddpt if r.get("paper_value") is not None]
    assert paper, "the paper's number is kept beside the row for context"
    # Beside a paper number the evaluation itself is judged too: the val-best Dice row says so.
    val_dice = next(r for r in paper if r["threshold_rule"] == "val-best" and r["metric"] == "dice")
    assert {"threshold", "frame"} <= {d["what"] for d in val_dice["deviations"] if d["kind"] == "protocol"}
    # A reference baseline with no paper row has nothing to deviate from.
    zscore = [r for r in outcome.rows if r["pipeline"] == "zscore" and r["target"] == "test"]
    assert all(r["n_deviations"] == 0 and r["paper_value"] is None for r in zscore)
    assert all(r.get("reference_baseline") for r in zscore if r.get("mean") is not None)


def test_markdown_marks_the_row_and_keeps_the_paper_number_as_not_comparable(bench):
    _, outcome, _ = bench
    text = (outcome.directory / "summary.md").read_text()
    rows = _lines_with(text, "| DDPT †")
    assert len(rows) >= 4, "the overview and every rule's table"
    for line in rows:
        assert SUBSTITUTES in line
        assert "backbone weights random init (published released)" in line
        assert "modality flair (published t2)" in line
        assert "(61.53) n.c." in line
    assert all("†" not in line for line in _lines_with(text, "| zscore "))
    vqvae = _lines_with(text, "| VQVAE |")
    assert vqvae
    assert all("17.27" in line and "n.c." not in line for line in vqvae)


def test_csv_json_and_latex_carry_the_deviations(bench):
    _, outcome, _ = bench
    with (outcome.directory / "summary.csv").open() as handle:
        table = list(csv.DictReader(handle))
    ddpt = [r for r in table if r["pipeline"] == "DDPT"]
    assert ddpt
    assert all(SUBSTITUTES in r["deviations_text"] and r["comparable"] == "False" for r in ddpt)
    assert {r["oracle"] for r in table if r["threshold_rule"] == "oracle"} == {"True"}
    assert {r["oracle"] for r in table if r["threshold_rule"] in ("fixed:0.5", "val-best")} == {"False"}
    document = json.loads((outcome.directory / "summary.json").read_text())
    assert any(d["kind"] == "weights" for r in document["rows"] if r["pipeline"] == "DDPT" for d in r["deviations"])
    latex = (outcome.directory / "summary.tex").read_text()
    assert r"DDPT$^{\dagger1}$" in latex
    footnotes = _lines_with(latex, r"$^{\dagger1}$ DDPT:")
    assert footnotes
    assert all("test-random-init" in line and "random init" in line for line in footnotes)


def test_plot_labels_and_the_console_table_mark_the_row(bench):
    config, outcome, plugin = bench
    labels = bar_labels(outcome.rows, config)
    assert labels[0].startswith("DDPT †\n† ")
    assert "weights" in labels[0]
    assert labels[1] == "zscore"
    env = {**os.environ, "WSAD_PLUGINS_PATH": str(plugin), "COLUMNS": "250"}
    wsad = [sys.executable, "-c", "import sys; from wsad_core.cli import main; sys.exit(main())"]
    config_path = outcome.directory / "again.json"
    config_path.write_text(json.dumps(config.model_dump(mode="json")))
    result = subprocess.run(
        [*wsad, "-q", "bench", str(config_path), "--out", str(outcome.directory), "--resume"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    ddpt = _lines_with(result.stdout, "DDPT †")
    assert ddpt
    assert "(61.5) n.c." in ddpt[0]
    assert "random init" in result.stdout
    assert "n.c.: the paper's number" in result.stdout.replace("\n", " ")
    assert "[1] DDPT departs: " in result.stdout, "the long reasons once, below the table"
    narrow = subprocess.run(
        [*wsad, "-q", "bench", str(config_path), "--out", str(outcome.directory), "--resume"],
        env={**env, "COLUMNS": "80"},
        capture_output=True,
        text=True,
    )
    assert narrow.returncode == 0, narrow.stderr
    table_lines = [line for line in narrow.stdout.splitlines() if not line.startswith("results: ")]  # a path
    assert max(len(line) for line in table_lines) <= 80, narrow.stdout
    assert _lines_with(narrow.stdout, "DDPT †"), "the row stays on a line of its own at 80 columns"


def test_job_outputs_carry_the_plugin_deviations(bench):
    _, outcome, _ = bench
    run = next(Path(r["run_dir"]) for r in outcome.records if r["pipeline"] == "DDPT")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["deviations"] == [
        {
            "kind": "weights",
            "what": "backbone weights",
            "used": "random init",
            "published": "released",
            "source": "generator test-random-init",
        }
    ]
    assert all("random init" in row["deviations"] and not row["published_setting"] for row in summary["rows"])
    assert all(row["selection"] == "generator: last epoch" for row in summary["rows"])
    markdown = (run / "summary.md").read_text()
    assert _lines_with(markdown, "| val-best †")
    assert all("random init" in line for line in _lines_with(markdown, "†") if line.startswith("|"))
    with (run / "summary.csv").open() as handle:
        assert all("random init" in row["deviations"] for row in csv.DictReader(handle))
    with (run / "metrics" / "cases.csv").open() as handle:
        assert all("random init" in row["deviations"] for row in csv.DictReader(handle))


def test_report_renders_the_same_tables_from_the_files_alone(bench, tmp_path):
    _, outcome, _ = bench
    config, records = load_bench_records(outcome.directory)
    rows = aggregate(records, config)
    assert (
        render_markdown(rows, config, bench_header(config, records)) == (outcome.directory / "summary.md").read_text()
    )
    # A copy elsewhere (as committed under docs/) renders the same: only relative paths are used.
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(outcome.directory), str(copy)], check=True)
    again_config, again_records = load_bench_records(copy)
    assert render_overview(aggregate(again_records, again_config), again_config) == render_overview(rows, config)


def test_a_row_without_deviations_prints_the_paper_number_plainly():
    config = BenchConfig.model_validate(
        {
            "datasets": [{**DATA, "source": "x", "same_as_paper": True, "modalities": ["t2"]}],
            "pipelines": [{"label": "DDPT", "generator": {"name": "ddpt"}}],
        }
    )
    base = {"dataset": "phantoms", "pipeline": "DDPT", "target": "test", "status": "finished", "protocol": "per-slice"}
    rows = [
        {
            **base,
            "threshold_rule": "fixed:0.5",
            "metric": "dice",
            "mean": 0.6,
            "paper_value": 0.6153,
            "comparable": True,
        },
        {
            **base,
            "threshold_rule": "fixed:0.5",
            "metric": "auprc",
            "mean": 0.5,
            "paper_value": 0.4689,
            "comparable": True,
        },
    ]
    text = render_markdown(rows, config, {})
    line = _lines_with(text, "| DDPT |")[0]
    assert "| 61.53 |" in line
    assert "n.c." not in line
    assert "†" not in line
