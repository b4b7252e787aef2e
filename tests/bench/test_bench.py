from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wsad_core import PluginHost, WsadError
from wsad_core.bench import BenchConfig, run_bench

REPO = Path(__file__).resolve().parents[2]

TEST_PLUGIN = '''
import os
from pathlib import Path
import numpy as np
from pydantic import BaseModel, ConfigDict
from wsad_core import GeneratorSpec, MaskSet, ScoreMaps, SegmenterSpec, hookimpl

class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

class Threshold:
    def __init__(self, options, context):
        pass
    def fit(self, train, *, validation=None):
        pass
    def generate(self, slices):
        soft = np.clip(slices.images[:, 0] * 1.2 - 0.2, 0, 1).astype(np.float32)
        return MaskSet(soft, soft > 0.6, "threshold")

class Broken:
    def __init__(self, options, context):
        pass
    def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
        raise RuntimeError("this segmenter always fails")
    def predict(self, slices):
        raise AssertionError("unreachable")

class Flaky:
    """Interrupted (like Ctrl-C) the first time, while a marker file exists."""
    def __init__(self, options, context):
        pass
    def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
        marker = Path(os.environ["WSAD_TEST_INTERRUPT"])
        if marker.exists():
            marker.unlink()
            raise KeyboardInterrupt
        self.mean = float(train.images.mean())
    def predict(self, slices):
        return ScoreMaps(np.clip(slices.images[:, 0], 0, 1).astype(np.float32), "probability")

@hookimpl
def wsad_register_generators():
    return [GeneratorSpec(name="test-threshold", summary="t", options=NoOptions, factory=Threshold, version="1")]

@hookimpl
def wsad_register_segmenters():
    return [SegmenterSpec(name="test-broken", summary="t", options=NoOptions, factory=Broken, version="1"),
            SegmenterSpec(name="test-flaky", summary="t", options=NoOptions, factory=Flaky, version="1")]
'''

DATA = {
    "name": "phantoms",
    "preprocess": {"skip_first": 4, "skip_last": 4, "size": 32, "min_lesion_pixels": 20},
    "paper_dataset": "BraTS20",
}
UNET = {"name": "unet", "options": {"epochs": 1, "channels": [8, 16], "batch_size": 8}}


@pytest.fixture
def test_plugin(tmp_path, monkeypatch) -> None:
    path = tmp_path / "bench_test_plugin.py"
    path.write_text(TEST_PLUGIN)
    monkeypatch.setenv("WSAD_PLUGINS_PATH", str(path))
    monkeypatch.setenv("WSAD_TEST_INTERRUPT", str(tmp_path / "interrupt-once"))
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path / "cache"))


def bench_config(source: Path) -> BenchConfig:
    return BenchConfig.model_validate(
        {
            "name": "test",
            "datasets": [{**DATA, "source": str(source)}],
            "pipelines": [
                {"label": "zscore", "generator": {"name": "zscore"}},
                {"label": "zscore + unet", "generator": {"name": "zscore"}, "segmenter": UNET},
                {"label": "threshold + unet", "generator": {"name": "test-threshold"}, "segmenter": UNET},
                {"label": "zscore + flaky", "generator": {"name": "zscore"}, "segmenter": {"name": "test-flaky"}},
                {"label": "zscore + broken", "generator": {"name": "zscore"}, "segmenter": {"name": "test-broken"}},
                {"label": "RASALoRE", "generator": {"name": "no-such-generator"}, "segmenter": UNET},
                {"label": "VQVAE", "reference_only": True},
            ],
            "seeds": [0, 1],
            "evaluation": {"protocol_options": {"per-slice": {"min_lesion_pixels": 20}}},
            "overlays": 1,
        }
    )


def _table(directory: Path) -> list[dict[str, str]]:
    with (directory / "summary.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_bench_fills_the_table_records_failures_and_resumes_to_the_same_result(phantom_dataset, tmp_path, test_plugin):
    config = bench_config(phantom_dataset)
    reference = run_bench(config, PluginHost(), out_dir=tmp_path / "reference")
    statuses = {(r["pipeline"], r["status"]) for r in reference.rows}
    assert ("zscore + unet", "finished") in statuses
    assert ("threshold + unet", "finished") in statuses
    assert ("zscore + broken", "failed") in statuses
    assert ("RASALoRE", "unavailable") in statuses
    assert ("VQVAE", "reference only") in statuses
    broken = next(r for r in reference.rows if r["pipeline"] == "zscore + broken")
    assert "this segmenter always fails" in broken["reason"]
    rasalore = [r for r in reference.rows if r["pipeline"] == "RASALoRE"]
    assert {round(r["paper_value"], 4) for r in rasalore} == {0.7057, 0.7474}, "paper Dice/AUPRC beside the row"
    markdown = (reference.directory / "summary.md").read_text()
    assert "not installed" in markdown
    assert "oracle (oracle: chosen on test labels)" in markdown
    assert (reference.directory / "summary.tex").read_text().count(r"\begin{table}") >= 2
    assert list((reference.directory / "plots").glob("*_dice.png"))
    assert (reference.directory / "plots" / "overlays.png").is_file()
    with (reference.directory / "metrics" / "cases.csv").open() as handle:
        row = next(csv.DictReader(handle))
    for column in (
        "job_id",
        "bench_dataset",
        "bench_pipeline",
        "seed",
        "protocol",
        "threshold_rule",
        "metric",
        "case_id",
        "slice_index",
        "versions",
    ):
        assert column in row
    # Shared stages: per seed, zscore's pseudo-masks are computed once for its three segmenter pipelines
    # (and once more with the test-slice maps for the generator-alone row): 4 fits, not 8.
    logs = [p.read_text() for p in (reference.directory / "jobs").rglob("run.log")]
    assert sum(log.count("zscore: fitted on") for log in logs) == 4
    assert sum("generator zscore: loaded from" in log for log in logs) == 4

    # Kill it midway (an interrupt in one job), then resume: same table.
    Path(os.environ["WSAD_TEST_INTERRUPT"]).touch()
    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        run_bench(config, PluginHost(), out_dir=out)
    records = json.loads((out / "jobs.json").read_text())
    assert any(r["status"] == "finished" for r in records.values()), "work before the interrupt is kept"
    resumed = run_bench(config, PluginHost(), out_dir=out, resume=True)
    assert _table(resumed.directory) == _table(reference.directory)


def test_template_plugin_is_picked_up_without_core_changes(phantom_dataset, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO / "examples" / "plugin-template"),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target), "WSAD_CACHE": str(tmp_path / "cache")}
    wsad = [sys.executable, "-c", "import sys; from wsad_core.cli import main; sys.exit(main())"]
    listing = subprocess.run([*wsad, "plugins", "--json"], env=env, capture_output=True, text=True, check=True)
    names = {(s["role"], s["name"]) for s in json.loads(listing.stdout)["specs"]}
    assert {("generator", "template-bright"), ("segmenter", "template-smooth")} <= names

    config = {
        "name": "template",
        "datasets": [{**DATA, "source": str(phantom_dataset)}],
        "pipelines": [
            {"label": "template", "generator": {"name": "template-bright"}, "segmenter": {"name": "template-smooth"}},
            {"label": "zscore", "generator": {"name": "zscore"}},
        ],
        "evaluation": {"protocol_options": {"per-slice": {"min_lesion_pixels": 20}}},
        "overlays": 0,
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [*wsad, "-q", "bench", str(path), "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    rows = _table(tmp_path / "out")
    assert {r["status"] for r in rows if r["pipeline"] == "template"} == {"finished"}

    conformance = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(REPO / "examples" / "plugin-template" / "tests"),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert conformance.returncode == 0, conformance.stdout[-2000:]


@pytest.mark.parametrize(
    "executor",
    [{"kind": "process", "workers": 2}, {"kind": "submitit", "submitit": {"cluster": "debug"}}],
    ids=["process-pool", "submitit-debug"],
)
def test_other_executors_run_the_same_jobs(phantom_dataset, tmp_path, monkeypatch, executor):
    if executor["kind"] == "submitit":
        pytest.importorskip("submitit")
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path / "cache"))
    config = BenchConfig.model_validate(
        {
            "name": "executors",
            "datasets": [{**DATA, "source": str(phantom_dataset)}],
            "pipelines": [
                {"label": "zscore", "generator": {"name": "zscore"}},
                {"label": "zscore-strict", "generator": {"name": "zscore", "options": {"threshold": 3.0}}},
            ],
            "evaluation": {"protocol_options": {"per-slice": {"min_lesion_pixels": 20}}},
            "overlays": 0,
            "executor": executor,
        }
    )
    outcome = run_bench(config, PluginHost(), out_dir=tmp_path / "out")
    assert {r["status"] for r in outcome.records} == {"finished"}
    assert len(outcome.records) == 2


@pytest.mark.parametrize("scale", ["cpu", "paper"])
def test_preset_options_are_valid_for_the_installed_plugins(scale):
    # A preset that names an option a plugin renamed would only fail hours into a benchmark.
    from wsad_core.bench.presets import preset

    host = PluginHost()
    config = preset("rasalore-table1", data="demo", scale=scale)
    checked = 0
    for row in config.pipelines:
        for role in ("generator", "refiner", "segmenter"):
            stage = getattr(row, role)
            if stage is None or stage.name not in host.specs(role):
                continue
            host.validate_options(role, stage.name, stage.options)
            checked += 1
    assert checked >= 8, "the built-in plugins should cover most rows"
    reduced = {
        row.label
        for row in config.pipelines
        if any(getattr(row, r) and getattr(row, r).options for r in ("generator", "segmenter"))
    }
    assert ({"AE", "DAE", "AME-CAM", "RASALoRE"} <= reduced) == (scale == "cpu")


def test_real_data_config_uses_the_presets_cpu_options():
    # docs/results.md was made with this file; the preset's CPU scale must mean the same settings.
    from wsad_core.bench import load_bench_config
    from wsad_core.bench.presets import _stage

    config = load_bench_config(REPO / "benchmarks" / "configs" / "brats2018-demo-cpu.yaml")
    compared = 0
    for row in config.pipelines:
        for role in ("generator", "refiner", "segmenter"):
            stage = getattr(row, role)
            if stage is not None and stage.options:
                expected = _stage(stage.name, "cpu")["options"]
                # Every preset setting as in the file; a row may add a labelled option (e.g. a recipe).
                assert {k: stage.options.get(k) for k in expected} == expected, row.label
                compared += 1
    assert compared >= 8


@pytest.mark.parametrize("scale", ["cpu", "paper"])
def test_the_preset_prompts_medsam_as_the_paper(scale):
    # rasalore.md §4: box of all foreground pixels, 0..19 px jitter at 224 — the plugin's own definition.
    from wsad_medsam._report import FAITHFUL_PROMPTING

    from wsad_core.bench.presets import preset

    config = preset("rasalore-table1", data="demo", scale=scale)
    medsam = [
        stage
        for row in config.pipelines
        for stage in (row.refiner, row.segmenter)
        if stage is not None and stage.name.startswith("medsam")
    ]
    assert len(medsam) == 3
    for stage in medsam:
        assert {k: stage.options[k] for k in FAITHFUL_PROMPTING} == FAITHFUL_PROMPTING


def test_cross_validation_tests_every_patient_once_and_averages_over_folds(phantom_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path / "cache"))
    config = BenchConfig.model_validate(
        {
            "name": "folds",
            "datasets": [{**DATA, "source": str(phantom_dataset), "split": {"folds": 3}}],
            "pipelines": [
                {"label": "zscore", "generator": {"name": "zscore"}},
                {"label": "VQVAE", "reference_only": True},
            ],
            "evaluation": {"protocol_options": {"per-slice": {"min_lesion_pixels": 20}}},
            "overlays": 0,
        }
    )
    outcome = run_bench(config, PluginHost(), out_dir=tmp_path / "out")
    finished = [r for r in outcome.records if r["status"] == "finished"]
    assert sorted(r["fold"] for r in finished) == [0, 1, 2]
    assert all("/fold-" in r["job_id"] for r in finished)
    tested = [case for r in finished for case in json.loads((Path(r["run_dir"]) / "split.json").read_text())["test"]]
    assert sorted(tested) == sorted(set(tested)), "no patient is tested twice"
    assert len(tested) == 6, "every patient is tested once"
    dice = next(
        r for r in outcome.rows if r["pipeline"] == "zscore" and r["metric"] == "dice" and r["target"] == "test"
    )
    assert (dice["n_folds"], dice["n_runs"], dice["n_seeds"]) == (3, 3, 1)
    assert dice["std"] is not None
    assert "3-fold patient cross-validation" in (outcome.directory / "summary.md").read_text()


def test_update_reuses_unchanged_jobs_reruns_changed_ones_and_drops_removed_ones(phantom_dataset, tmp_path):
    def config(unet_epochs: int, extra: bool) -> BenchConfig:
        unet = {**UNET, "options": {**UNET["options"], "epochs": unet_epochs}}
        pipelines = [
            {"label": "zscore", "generator": {"name": "zscore"}},
            {"label": "zscore + unet", "generator": {"name": "zscore"}, "segmenter": unet},
        ]
        if extra:
            pipelines.append({"label": "zscore again", "generator": {"name": "zscore", "options": {"threshold": 2.5}}})
        return BenchConfig.model_validate(
            {
                "name": "update",
                "datasets": [{**DATA, "source": str(phantom_dataset)}],
                "pipelines": pipelines,
                "evaluation": {"protocol_options": {"per-slice": {"min_lesion_pixels": 20}}},
                "overlays": 0,
            }
        )

    out = tmp_path / "bench"
    first = run_bench(config(1, extra=True), PluginHost(), out_dir=out)
    assert {r["status"] for r in first.records} == {"finished"}
    # A run made before a configuration field existed has another fingerprint but the same settings.
    zscore_run = Path(next(r["run_dir"] for r in first.records if r["pipeline"] == "zscore")) / "run.json"
    zscore_run.write_text(json.dumps({**json.loads(zscore_run.read_text()), "config_fingerprint": "older-schema"}))
    changed = config(2, extra=False)
    with pytest.raises(WsadError, match="--update"):  # a plain resume refuses another configuration
        run_bench(changed, PluginHost(), out_dir=out, resume=True)

    updated = run_bench(changed, PluginHost(), out_dir=out, update=True)
    by_pipeline = {r["pipeline"]: r for r in updated.records}
    assert set(by_pipeline) == {"zscore", "zscore + unet"}, "the removed pipeline leaves the tables"
    assert by_pipeline["zscore"].get("reused") is True
    assert by_pipeline["zscore"]["seconds"] is not None, "a reused job keeps the time of the run that made it"
    assert not by_pipeline["zscore + unet"].get("reused"), "changed settings: trained again"
    run_dir = Path(by_pipeline["zscore + unet"]["run_dir"])
    assert "epochs: 2" in (run_dir / "config.yaml").read_text()
    superseded = list((out / "superseded").rglob("config.yaml"))
    assert len(superseded) == 1, "the replaced run is kept"
    assert "epochs: 1" in superseded[0].read_text()
    assert {row["pipeline"] for row in _table(out)} == {"zscore", "zscore + unet"}
