"""Benchmark files: data paths taken from the file's folder, a CPU scale for any file, a selection of rows."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import yaml

from wsad_core.bench import load_bench_config
from wsad_core.bench.config import resolve_source
from wsad_core.bench.presets import scaled, selected
from wsad_core.cli import main
from wsad_core.errors import ConfigError

ROWS = [
    {"label": "Template (bright + smooth)", "generator": {"name": "zscore"}, "segmenter": {"name": "unet"}},
    {"label": "RASALoRE", "generator": {"name": "zscore"}, "segmenter": {"name": "rasalore", "options": {"k": 64}}},
    {"label": "DAE", "segmenter": {"name": "dae"}},
]


def _write(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump({"name": "b", "datasets": [{"name": "d", "source": source}], "pipelines": ROWS}))
    return path


def test_relative_sources_are_taken_from_the_files_folder_from_any_working_folder(tmp_path, monkeypatch):
    (tmp_path / "data" / "cases").mkdir(parents=True)
    config_path = _write(tmp_path / "configs" / "deep", "../../data/cases")
    for working in (tmp_path, tmp_path / "configs", Path("/")):
        monkeypatch.chdir(working)
        source = load_bench_config(config_path).datasets[0].source
        assert Path(source).resolve() == (tmp_path / "data" / "cases").resolve(), working


def test_a_path_that_exists_only_from_the_working_folder_is_kept_as_written(tmp_path, monkeypatch):
    (tmp_path / "shared" / "x").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert resolve_source("shared/x", tmp_path / "configs") == "shared/x", "older benchmark files keep their jobs"
    assert resolve_source("demo", tmp_path / "configs") == "demo"
    monkeypatch.setenv("WSAD_TEST_DATA", str(tmp_path / "shared"))
    assert resolve_source("$WSAD_TEST_DATA/x", tmp_path / "configs") == str(tmp_path / "shared" / "x")
    assert resolve_source("missing", tmp_path / "configs") == os.path.normpath(tmp_path / "configs" / "missing")


def test_dry_run_checks_that_the_data_exists(tmp_path, capsys):
    config_path = _write(tmp_path, "no/such/folder")
    assert main(["bench", str(config_path), "--dry-run"]) == 1
    assert "no/such/folder does not exist" in " ".join(capsys.readouterr().err.split())


def test_cpu_scale_fills_reduced_settings_under_each_rows_own(tmp_path):
    (tmp_path / "data").mkdir()
    config = load_bench_config(_write(tmp_path, "data"))
    cpu = scaled(config, "cpu")
    options = {row.label: (row.segmenter.options if row.segmenter else {}) for row in cpu.pipelines}
    assert options["RASALoRE"] == {"preset": "cpu-small", "epochs": 30, "k": 64}, "the row's own option wins"
    assert options["DAE"]["epochs"] == 6
    assert scaled(config, "paper") == config


def test_only_selects_rows_by_label_and_names_a_pattern_that_matches_none(tmp_path):
    (tmp_path / "data").mkdir()
    config = load_bench_config(_write(tmp_path, "data"))
    assert [r.label for r in selected(config, ("template*",)).pipelines] == ["Template (bright + smooth)"]
    assert [r.label for r in selected(config, ("RASALoRE", "D?E")).pipelines] == ["RASALoRE", "DAE"]
    with pytest.raises(ConfigError, match="--only 'nothing' matches no row"):
        selected(config, ("nothing",))
    with warnings.catch_warnings():  # the selected (and scaled) configuration serialises without complaint
        warnings.simplefilter("error")
        scaled(selected(config, ("RASALoRE",)), "cpu").model_dump(mode="json")
