from __future__ import annotations

import csv
import json
import math
import statistics
import sys

import numpy as np
import pytest

from wsad_core.errors import DataError
from wsad_core.results import read_case_rows, read_summary, summarise, write_case_rows, write_summary
from wsad_core.types import MetricRow

LABELS = {"run_id": "r1", "dataset": "brats2018_demo", "modality": "flair (T2 substitute)", "seed": 0}
NOTE = "NOTE: random-init weights — not the published method"


def _row(
    metric="dice",
    value=0.5,
    *,
    protocol="rasalore-slice",
    rule="fixed:0.5",
    threshold=0.5,
    case="c1",
    k=70,
    extras=None,
):
    unit = "slice" if k is not None else "volume"
    return MetricRow(protocol, unit, case, k, metric, value, rule, threshold, extras or {})


def _rows() -> list[MetricRow]:
    return [
        _row(value=0.5, extras={"lesion_pixels": 812}),
        _row(value=0.7, k=71, extras={"lesion_pixels": 400}),
        _row(value=None, k=72, extras={"lesion_pixels": 0}),
        _row(value=float("nan"), k=73, extras={"lesion_pixels": 1}),
        _row("auroc", 0.9, rule="none", threshold=None),
        _row("auroc", 0.8, rule="none", threshold=None, k=71),
        _row("dice", 0.75, rule="test-oracle", threshold=0.31),
        _row("dice", 0.95, rule="test-oracle", threshold=0.31, k=71),
        _row("dice", 0.6, protocol="volume-val", rule="val-best-dice", threshold=0.42, k=None),
        _row("ap", None, protocol="volume-val", rule="val-best-dice", threshold=None, k=None),
    ]


def _group(summary, protocol, rule, metric):
    (found,) = [s for s in summary if (s["protocol"], s["threshold_rule"], s["metric"]) == (protocol, rule, metric)]
    return found


def test_summary_statistics():
    summary = summarise(_rows())
    dice = _group(summary, "rasalore-slice", "fixed:0.5", "dice")
    assert dice["mean"] == pytest.approx(0.6)
    assert dice["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert dice["n"] == 2
    assert dice["n_undefined"] == 2  # None and NaN
    assert dice["threshold"] == 0.5
    assert dice["unit"] == "slice"
    auroc = _group(summary, "rasalore-slice", "none", "auroc")
    assert auroc["threshold"] is None
    assert auroc["n_thresholds"] == 0
    single = _group(summary, "volume-val", "val-best-dice", "dice")
    assert (single["mean"], single["std"], single["n"]) == (pytest.approx(0.6), 0.0, 1)
    undefined = _group(summary, "volume-val", "val-best-dice", "ap")
    assert (undefined["mean"], undefined["std"], undefined["n"], undefined["n_undefined"]) == (None, None, 0, 1)
    json.dumps(summary, allow_nan=False)  # never NaN
    assert [(s["protocol"], s["threshold_rule"], s["metric"]) for s in summary][:3] == [
        ("rasalore-slice", "fixed:0.5", "dice"),
        ("rasalore-slice", "none", "auroc"),
        ("rasalore-slice", "test-oracle", "dice"),
    ]


def test_summary_against_statistics_module_and_varying_thresholds():
    values = [0.1, 0.35, 0.8, 0.42, 0.05]
    rows = [_row(value=v, k=i, threshold=0.5 if i < 2 else 0.6) for i, v in enumerate(values)]
    (group,) = summarise(rows)
    assert group["mean"] == pytest.approx(statistics.fmean(values))
    assert group["std"] == pytest.approx(statistics.stdev(values))
    assert group["threshold"] is None
    assert group["n_thresholds"] == 2
    assert summarise([]) == []


def test_case_rows_csv_layout_and_typed_read_back(run):
    rows = _rows()
    written = write_case_rows(rows, run, columns=LABELS)
    csv_path = run.metrics_dir / "cases.csv"
    assert csv_path in written
    with open(csv_path, newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:4] == ["run_id", "dataset", "modality", "seed"]
    assert header[4:12] == [
        "protocol",
        "unit",
        "case_id",
        "slice_index",
        "metric",
        "value",
        "threshold_rule",
        "threshold",
    ]
    assert header[12:] == ["lesion_pixels"]
    back = read_case_rows(run)
    assert len(back) == len(rows)
    assert back[0] == {
        **LABELS,
        "protocol": "rasalore-slice",
        "unit": "slice",
        "case_id": "c1",
        "slice_index": 70,
        "metric": "dice",
        "value": 0.5,
        "threshold_rule": "fixed:0.5",
        "threshold": 0.5,
        "lesion_pixels": 812,
    }
    assert back[2]["value"] is None
    assert back[3]["value"] is None  # NaN is stored as undefined
    assert back[4]["threshold"] is None
    assert back[4]["lesion_pixels"] is None
    assert back[8]["slice_index"] is None


def test_float_values_round_trip_exactly(run):
    value = 0.1 + 0.2
    write_case_rows([_row(value=value)], run, columns={})
    assert read_case_rows(run)[0]["value"] == value


def test_mixed_extras_become_text(run):
    rows = [_row(extras={"note": 3}), _row(k=71, extras={"note": "x"})]
    write_case_rows(rows, run, columns={"seed": 1})
    back = read_case_rows(run)
    assert [r["note"] for r in back] == ["3", "x"]
    assert back[0]["seed"] == 1


def test_column_clashes_are_refused(run):
    with pytest.raises(ValueError, match="metric"):
        write_case_rows(_rows(), run, columns={"metric": "x"})
    with pytest.raises(ValueError, match="dataset"):
        write_case_rows([_row(extras={"dataset": "y"})], run, columns={"dataset": "x"})


def test_parquet_round_trip(run):
    pq = pytest.importorskip("pyarrow.parquet")
    write_case_rows(_rows(), run, columns=LABELS)
    table = pq.read_table(run.metrics_dir / "cases.parquet")
    assert str(table.schema.field("value").type) == "double"
    assert str(table.schema.field("slice_index").type) == "int64"
    assert str(table.schema.field("seed").type) == "int64"
    assert table.to_pylist() == read_case_rows(run)


def test_without_pyarrow_only_csv_is_written(run, monkeypatch):
    pytest.importorskip("pyarrow")
    write_case_rows(_rows(), run, columns=LABELS)
    assert (run.metrics_dir / "cases.parquet").exists()
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    written = write_case_rows(_rows()[:2], run, columns=LABELS)
    assert {p.name for p in written} == {"cases.csv", "cases.columns.json"}
    assert not (run.metrics_dir / "cases.parquet").exists()  # a stale file would disagree with the CSV
    assert len(read_case_rows(run)) == 2


def test_reading_missing_rows_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"cases\.csv"):
        read_case_rows(tmp_path)


def _write_summary(run):
    header = {
        "data": "brats2018_demo, 8 cases",
        "split": "train 6 / test 2, seed 42",
        "weights": NOTE,
        "pipeline": "zscore → none → rasalore",
    }
    labels = {"rasalore-slice": "Per-slice (RASALoRE protocol)", "volume-val": "Per-volume, threshold on validation"}
    return write_summary(summarise(_rows()), run, header=header, labels=labels)


def test_summary_files(run):
    paths = _write_summary(run)
    assert [p.name for p in paths] == ["summary.csv", "summary.json", "summary.md"]
    with open(run.root / "summary.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert table[0]["protocol"] == "rasalore-slice"
    assert float(table[0]["mean"]) == pytest.approx(0.6)
    assert table[-1]["mean"] == ""  # undefined, not "nan"
    document = read_summary(run)
    assert document["header"]["weights"] == NOTE
    assert len(document["rows"]) == len(summarise(_rows()))
    assert "NaN" not in (run.root / "summary.json").read_text()


def test_summary_markdown(run):
    _write_summary(run)
    text = (run.root / "summary.md").read_text()
    lines = text.splitlines()
    assert lines[0] == "# wsad results: run"
    assert f"> **{NOTE}** (weights)" in lines[:4]  # prominent: right under the title
    assert "- **data**: brats2018_demo, 8 cases" in lines
    assert "## Per-slice (RASALoRE protocol) (`rasalore-slice`)" in lines
    assert "## Per-volume, threshold on validation (`volume-val`)" in lines
    head = (
        "| threshold rule | threshold | n | dice (%) | auroc (%) | what the row is | "
        + "departs from the published method |"
    )
    assert head in lines
    assert "| fixed:0.5 | 0.5 | 2 | 60.0 ± 14.1 |  | — | none |" in lines
    assert "| none | — | 2 |  | 85.0 ± 7.1 | — | none |" in lines
    oracle = "| test-oracle (oracle: chosen on test labels) | 0.31 | 2 | 85.0 ± 14.1 |  | — | none |"
    assert oracle in lines
    assert "| val-best-dice | 0.42 | 1 | 60.0 ± 0.0 | n/a (n=0) | — | none |" in lines
    assert lines.index("| fixed:0.5 | 0.5 | 2 | 60.0 ± 14.1 |  | — | none |") < lines.index(oracle)
    assert "dice @ fixed:0.5: 2" in text
    assert "nan" not in text.lower()


def test_markdown_notes_key_and_non_percent_metrics(run):
    rows = [_row("hd95", 12.5), _row("hd95", 20.0, k=71), _row("ap", 0.5, protocol="pooled-oracle", rule="best")]
    write_summary(summarise(rows), run, header={"note": "smoke test | tiny data"}, labels={})
    text = (run.root / "summary.md").read_text()
    assert "> **smoke test \\| tiny data**" in text
    assert "| fixed:0.5 | 0.5 | 2 | 16.25 ± 5.3 |" in text
    assert "## `pooled-oracle`" in text
    assert "| best (oracle: chosen on test labels) |" in text
    assert not math.isnan(read_summary(run)["rows"][0]["mean"])
