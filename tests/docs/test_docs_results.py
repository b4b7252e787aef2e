"""docs/results.md is rendered from committed files, and its oracle never falls below its val-best."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wsad_core.bench.aggregate import aggregate
from wsad_core.bench.report import render_markdown, render_overview
from wsad_core.bench.runner import bench_header, load_bench_records
from wsad_core.metrics.thresholds import is_oracle

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "results.md"
RESULTS = REPO / "docs" / "results" / "brats2018-demo-cpu"
BEGIN = "<!-- begin: wsad report docs/results/brats2018-demo-cpu --format overview -->"
END = "<!-- end: wsad report -->"
#: Every table embedded in docs/results.md: ``<!-- begin: wsad report docs/results/NAME --format overview -->``.
_MARKER = re.compile(r"<!-- begin: wsad report docs/results/([\w.-]+) --format overview -->")


def _embedded_tables(text: str) -> dict[str, str]:
    tables = {}
    for marker in _MARKER.finditer(text):
        tables[marker.group(1)] = text.split(marker.group(0), 1)[1].split(END, 1)[0].strip()
    return tables


def _prose(text: str) -> str:
    for marker in _MARKER.finditer(text):
        before, after = text.split(marker.group(0), 1)
        text = before + after.split(END, 1)[1]
    return text


@pytest.fixture(scope="module")
def committed():
    config, records = load_bench_records(RESULTS)
    return config, records, aggregate(records, config)


def test_every_table_in_docs_results_is_the_rendering_of_its_committed_files():
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text, f"docs/results.md lacks the marker {BEGIN!r}"
    tables = _embedded_tables(text)
    for name, embedded in tables.items():
        config, records = load_bench_records(REPO / "docs" / "results" / name)
        assert embedded == render_overview(aggregate(records, config), config).strip(), (
            f"docs/results.md's table differs from `wsad report docs/results/{name} --format overview`"
        )


def test_the_committed_summary_is_the_rendering_of_the_committed_files(committed):
    config, records, rows = committed
    assert (RESULTS / "summary.md").read_text(encoding="utf-8") == render_markdown(
        rows, config, bench_header(config, records)
    )


def test_the_oracle_bounds_every_rule_on_every_row(committed):
    """Done-when of issue 12: oracle >= val-best (and >= fixed:0.5) on every row, every protocol."""
    _, _, rows = committed
    dice = [r for r in rows if r.get("metric") == "dice" and r.get("mean") is not None]
    keys = {(r["dataset"], r["pipeline"], r.get("target", "test"), r["protocol"]) for r in dice}
    checked = 0
    for key in keys:
        by_rule = {
            r["threshold_rule"]: r["mean"]
            for r in dice
            if (r["dataset"], r["pipeline"], r["target"], r["protocol"]) == key
        }
        oracle = [value for rule, value in by_rule.items() if is_oracle(rule)]
        if not oracle:
            continue
        for rule, value in by_rule.items():
            if not is_oracle(rule):
                assert oracle[0] >= value, f"{key}: oracle {oracle[0]} < {rule} {value}"
                checked += 1
    assert checked >= 10


def test_every_two_decimal_number_in_the_prose_is_in_the_committed_tables(committed):
    """Numbers quoted in docs/results.md come from the committed benchmarks' tables, not from memory."""
    del committed
    text = DOC.read_text(encoding="utf-8")
    prose = _prose(text)
    rendered = ""
    for name in sorted({*_embedded_tables(text), "rasalore-table1-cpu"}):
        config, records = load_bench_records(REPO / "docs" / "results" / name)
        rendered += render_markdown(aggregate(records, config), config, bench_header(config, records))
    # The experiments' own committed tables (learning curves, training patients), written by their scripts.
    for table in sorted((REPO / "docs" / "results").glob("rasalore-*/*.md")):
        rendered += table.read_text(encoding="utf-8")
    quoted = set(re.findall(r"(?<![\d.])\d{1,3}\.\d\d(?![\d])", prose))
    missing = sorted(number for number in quoted if number not in rendered)
    assert not missing, f"docs/results.md quotes numbers found in no committed table: {missing}"


PRESET = REPO / "docs" / "results" / "rasalore-table1-cpu"


def test_the_committed_preset_run_marks_every_row_that_is_not_the_published_setting():
    """`wsad bench --preset rasalore-table1 --data ../shared/data/brats2018_demo`, committed: md, csv, tex, plots."""
    import csv

    from wsad_core.bench.plots import bar_labels

    config, records = load_bench_records(PRESET)
    rows = aggregate(records, config)
    ours = [p for p in config.pipelines if not p.reference_only]
    assert len(ours) >= 8
    markdown = (PRESET / "summary.md").read_text(encoding="utf-8")
    latex = (PRESET / "summary.tex").read_text(encoding="utf-8")
    for pipeline in ours:
        assert not [line for line in markdown.splitlines() if line.startswith(f"| {pipeline.label} |")], pipeline.label
        lines = [line for line in markdown.splitlines() if line.startswith(f"| {pipeline.label} † |")]
        assert len(lines) >= 4, pipeline.label  # the overview and the table of every rule
        # Its paper number is there for context, never plain: '(52.22) n.c.', or '(26.19 T15) n.c.' on a row
        # whose number comes from an appendix table (and only there).
        tag = "" if pipeline.paper_table == 1 else f" T{pipeline.paper_table}"
        marked = re.compile(rf"\| \(\d+\.\d\d{tag}\) n\.c\. \|")
        assert all(marked.search(line) for line in lines), pipeline.label
        assert f"{pipeline.label}$^{{\\dagger" in latex
    with (PRESET / "summary.csv").open(encoding="utf-8") as handle:
        table = [r for r in csv.DictReader(handle) if r["status"] != "reference only"]
    assert table
    assert all(r["comparable"] == "False" and r["deviations_text"] for r in table)
    assert all("†" in label for label in bar_labels(rows, config))
