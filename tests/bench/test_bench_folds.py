"""A cross-validated table run fold by fold (``--folds``): every part's records stay, the whole run reuses them."""

from __future__ import annotations

import json
import re

import pytest

from wsad_core import ConfigError
from wsad_core.bench.config import BenchConfig
from wsad_core.bench.runner import load_bench_records, run_bench
from wsad_core.cli import main
from wsad_core.plugins import PluginHost

DATA = {"name": "phantoms", "preprocess": {"skip_first": 4, "skip_last": 4, "size": 32, "min_lesion_pixels": 20}}


def _config(source: str, folds: int | None = 3) -> BenchConfig:
    dataset = {**DATA, "source": source}
    if folds:
        dataset["split"] = {"folds": folds}
    return BenchConfig.model_validate(
        {"name": "folds", "datasets": [dataset], "pipelines": [{"label": "z", "generator": {"name": "zscore"}}]}
    )


def test_folds_run_in_parts_join_one_table(phantom_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path / "cache"))
    config, host, out = _config(str(phantom_dataset)), PluginHost(), tmp_path / "bench"
    first = run_bench(config, host, out_dir=out, folds={1})
    assert [(r["fold"], r["status"]) for r in first.records] == [(1, "finished")]
    run_bench(config, host, out_dir=out, update=True, folds={0, 2})
    assert set(json.loads((out / "jobs.json").read_text())) == {f"phantoms/z/fold-{f}/seed-0" for f in range(3)}
    run_bench(config, host, out_dir=out, update=True)  # every fold: all three reused, none run again
    _, records = load_bench_records(out)
    assert sorted((r["fold"], r["status"], r.get("reused")) for r in records) == [
        (0, "finished", True),
        (1, "finished", True),
        (2, "finished", True),
    ]


@pytest.mark.parametrize(
    ("folds", "cross_validated", "message"),
    [({5}, True, "no dataset has fold(s) [5]"), (set(), True, "none given"), ({0}, False, "cross-validated")],
)
def test_folds_outside_the_split_are_refused(folds, cross_validated, message, tmp_path):
    config = _config(str(tmp_path), folds=3 if cross_validated else None)
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_bench(config, PluginHost(), out_dir=tmp_path / "bench", folds=folds)
    assert not (tmp_path / "bench").exists()  # refused before anything is written


@pytest.mark.parametrize(("value", "message"), [("a,b", "not a comma-separated list"), (",", "no fold number")])
def test_the_cli_names_a_malformed_folds_value(value, message, tmp_path, capsys):
    config = tmp_path / "bench.yaml"
    config.write_text(_config(str(tmp_path)).model_dump_json())
    assert main(["bench", str(config), "--folds", value, "--dry-run"]) != 0
    assert message in capsys.readouterr().err
