"""benchmarks/export_results.py: one table from several sources, taking only jobs run with its settings."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from wsad_core.bench import run_bench
from wsad_core.bench.config import BenchConfig
from wsad_core.plugins import PluginHost

REPO = Path(__file__).resolve().parents[2]


def _exporter() -> ModuleType:
    spec = importlib.util.spec_from_file_location("export_results", REPO / "benchmarks" / "export_results.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(source: Path, rows: list[dict[str, object]]) -> dict[str, object]:
    return {
        "name": "parts",
        "datasets": [
            {
                "name": "phantoms",
                "source": str(source),
                "preprocess": {"skip_first": 4, "skip_last": 4, "size": 32, "min_lesion_pixels": 20},
            }
        ],
        "pipelines": rows,
        "evaluation": {"protocol_options": {"per-slice": {"min_lesion_pixels": 20}}},
        "overlays": 0,
    }


ROW_A = {"label": "zscore", "generator": {"name": "zscore"}}
ROW_B = {"label": "zscore 2.5", "generator": {"name": "zscore", "options": {"threshold": 2.5}}}
ROW_C = {"label": "zscore 3.5", "generator": {"name": "zscore", "options": {"threshold": 3.5}}}


def test_rows_run_in_parts_join_one_table_and_changed_ones_are_not_taken(phantom_dataset: Path, tmp_path: Path) -> None:
    export = _exporter().export
    first = tmp_path / "first"
    run_bench(BenchConfig.model_validate(_config(phantom_dataset, [ROW_A, ROW_C])), PluginHost(), out_dir=first)
    committed = tmp_path / "docs" / "parts"
    export([first], committed)  # an earlier session's export: rows A and C
    # Later: row B is run alone, and row C's settings changed in the full configuration.
    changed_c = {**ROW_C, "generator": {"name": "zscore", "options": {"threshold": 3.0}}}
    second = tmp_path / "second"
    run_bench(BenchConfig.model_validate(_config(phantom_dataset, [ROW_B])), PluginHost(), out_dir=second)
    full = tmp_path / "full.yaml"
    full.write_text(yaml.safe_dump(_config(phantom_dataset, [ROW_A, ROW_B, changed_c])))

    export([second, committed], committed, full)  # the earlier export is a source of its own replacement
    records = json.loads((committed / "jobs.json").read_text())
    assert set(records) == {"phantoms/zscore/seed-0", "phantoms/zscore_2.5/seed-0"}, "row C ran with other settings"
    assert records["phantoms/zscore/seed-0"]["exported_from"] == str(committed)
    assert records["phantoms/zscore_2.5/seed-0"]["exported_from"] == str(second)
    assert (committed / "jobs" / "phantoms" / "zscore" / "seed-0" / "summary.json").is_file()
    table = (committed / "summary.md").read_text()
    row_c = next(line for line in table.splitlines() if line.startswith("| zscore 3.5 |"))
    assert row_c.endswith("| not run |"), "the changed row is in the configuration, without a result"


def test_a_benchmark_run_folder_is_never_replaced_as_dest(phantom_dataset: Path, tmp_path: Path) -> None:
    """DEST is the second argument: a run folder given there by mistake stays as it was."""
    export = _exporter().export
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        run_bench(BenchConfig.model_validate(_config(phantom_dataset, [ROW_A])), PluginHost(), out_dir=out)
    before = sorted(p.relative_to(second) for p in second.rglob("*"))
    with pytest.raises(SystemExit, match="refusing to replace it"):
        export([first], second)
    assert sorted(p.relative_to(second) for p in second.rglob("*")) == before
