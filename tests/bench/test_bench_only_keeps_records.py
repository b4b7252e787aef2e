"""Rows run in parts (``--only``, then ``--only`` another row with ``--update``) all stay in jobs.json."""

from __future__ import annotations

import json

from wsad_core.bench.config import BenchConfig
from wsad_core.bench.presets import selected
from wsad_core.bench.runner import load_bench_records, run_bench
from wsad_core.plugins import PluginHost

DATA = {"name": "phantoms", "preprocess": {"skip_first": 4, "skip_last": 4, "size": 32, "min_lesion_pixels": 20}}


def test_a_later_part_keeps_the_earlier_parts_records(phantom_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path / "cache"))
    config = BenchConfig.model_validate(
        {
            "name": "parts",
            "datasets": [{**DATA, "source": str(phantom_dataset)}],
            "pipelines": [
                {"label": "first", "generator": {"name": "zscore"}},
                {"label": "second", "generator": {"name": "zscore", "options": {"threshold": 2.5}}},
            ],
            "seeds": [0],
        }
    )
    host = PluginHost()
    out = tmp_path / "bench"
    run_bench(selected(config, ("first",)), host, out_dir=out)
    run_bench(selected(config, ("second",)), host, out_dir=out, update=True)
    assert set(json.loads((out / "jobs.json").read_text())) == {"phantoms/first/seed-0", "phantoms/second/seed-0"}
    run_bench(config, host, out_dir=out, update=True)  # the whole configuration: both reused
    _, records = load_bench_records(out)
    assert sorted((r["pipeline"], r["status"], r.get("reused")) for r in records) == [
        ("first", "finished", True),
        ("second", "finished", True),
    ]
