from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from tests.pipeline.conftest import TINY_UNET, make_config
from wsad_core import ContractError, PluginHost, RunDirectoryError, UnknownPluginError
from wsad_core.pipeline import run_pipeline
from wsad_core.results import read_case_rows, read_summary


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(disabled=())


@pytest.fixture(scope="module")
def finished_run(phantom_dataset, tmp_path_factory, host):
    out = tmp_path_factory.mktemp("run") / "zscore-unet"
    config = make_config(phantom_dataset, out, generator="zscore", segmenter=("unet", TINY_UNET))
    outcome = run_pipeline(config, host)
    return config, outcome, out


def test_a_run_writes_the_full_results_directory(finished_run, phantom_dataset):
    _, outcome, out = finished_run
    assert outcome.error is None
    for name in (
        "config.yaml",
        "env.json",
        "split.json",
        "run.json",
        "run.log",
        "summary.csv",
        "summary.json",
        "summary.md",
        "metrics/cases.csv",
    ):
        assert (out / name).is_file(), name
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    split = json.loads((out / "split.json").read_text())
    test_cases = split["test"] if isinstance(split["test"], list) else split["test"]["cases"]
    assert len(test_cases) == 2, "int(0.8 * 6) = 4 training patients, 2 test patients"
    # One map per test case, in the input's grid and affine.
    for case in test_cases:
        written = nib.load(out / "maps" / f"{case}.nii.gz")
        source = nib.load(phantom_dataset / case / f"{case}_flair.nii.gz")
        assert written.shape == source.shape
        np.testing.assert_allclose(written.affine, source.affine)
        data = np.asarray(written.dataobj)
        assert not data[:, :, :4].any(), "slices outside the evaluated range stay zero"
        assert data[:, :, 4:-4].any()
    assert len(list((out / "overlays").glob("*.png"))) == 2
    env = json.loads((out / "env.json").read_text())
    assert env["seed"] == 42
    assert env["device"] == "cpu"


def test_every_row_is_labelled_with_protocol_and_threshold_rule(finished_run):
    _, outcome, out = finished_run
    rows = read_case_rows(out)
    assert {r["protocol"] for r in rows} == {"per-slice", "pooled", "per-volume", "slice-detection"}
    assert {r["threshold_rule"] for r in rows} == {"fixed:0.5", "val-best", "oracle", "threshold-free"}
    assert {r["target"] for r in rows} == {"test", "pseudo-masks/train"}
    assert all(r["pipeline"] == "zscore->unet" and r["dataset"] == "brats" for r in rows)
    summary = read_summary(out)["rows"]
    dice = [r for r in summary if r["metric"] == "dice" and r["target"] == "test"]
    assert all(r["mean"] is None or 0.0 <= r["mean"] <= 1.0 for r in dice)
    markdown = (out / "summary.md").read_text()
    assert "oracle (oracle: chosen on test labels)" in markdown
    assert all(r["oracle"] == (r["threshold_rule"] == "oracle") for r in rows)
    assert all(r["oracle"] == (r["threshold_rule"] == "oracle") for r in read_summary(out)["rows"])
    assert "reference baseline" in markdown
    assert "Pseudo-masks of the training slices (diagnostic" in markdown
    assert {r["target"] for r in outcome.summary} == {"test", "pseudo-masks/train"}
    # Plugin notes (here: reference baselines) travel with every row of every table.
    assert all("reference baseline" in r["notes"] for r in rows)
    assert "reference baseline" in (out / "summary.csv").read_text()


def test_an_existing_run_is_not_overwritten(finished_run, host):
    config, _, _ = finished_run
    with pytest.raises(RunDirectoryError, match="--resume"):
        run_pipeline(config, host)


def test_resume_reuses_finished_stages_and_gives_the_same_table(finished_run, host, monkeypatch):
    config, outcome, _ = finished_run

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished stage was recomputed")

    monkeypatch.setattr(
        host,
        "create",
        lambda role, *a, **k: must_not_run() if role != "evaluator" else PluginHost.create(host, role, *a, **k),
    )
    again = run_pipeline(config, host, resume=True)
    assert again.summary == outcome.summary


def test_interrupted_training_resumes_to_the_same_result(phantom_dataset, tmp_path, host, finished_run):
    _, reference, _ = finished_run
    out = tmp_path / "interrupted"
    config = make_config(phantom_dataset, out, generator="zscore", segmenter=("unet", TINY_UNET))
    import wsad_core.pipeline.stages as stages

    original = stages._predict

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    stages._predict = interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            run_pipeline(config, host)
    finally:
        stages._predict = original
    status = json.loads((out / "run.json").read_text())
    assert status["status"] == "failed"
    assert "interrupted" in status["error"]
    resumed = run_pipeline(config, host, resume=True)
    assert resumed.summary == reference.summary


def test_resume_with_another_configuration_is_refused(finished_run, host):
    config, _, _ = finished_run
    changed = config.model_copy(update={"seed": 7})
    with pytest.raises(RunDirectoryError, match="fingerprint"):
        run_pipeline(changed, host, resume=True)


def test_generator_alone_is_evaluated_on_its_soft_maps(phantom_dataset, tmp_path, host):
    outcome = run_pipeline(make_config(phantom_dataset, tmp_path / "g", generator="zscore"), host)
    test_rows = [r for r in outcome.summary if r["target"] == "test"]
    assert test_rows
    assert all(r["pipeline"] == "zscore" for r in test_rows)


def test_unknown_plugins_and_bad_pairings_fail_before_any_work(tmp_path, host):
    with pytest.raises(UnknownPluginError, match="did you mean zscore"):
        run_pipeline(make_config("/does/not/matter", tmp_path / "a", generator="zscor", segmenter="unet"), host)
    with pytest.raises(ContractError, match="no generator is given"):
        run_pipeline(make_config("/does/not/matter", tmp_path / "b", segmenter="unet"), host)
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()


def test_overlays_name_the_method_and_whether_the_data_is_synthetic(phantom_dataset, tmp_path, host, monkeypatch):
    from wsad_core.pipeline import outputs

    titles: list[str] = []
    real = outputs.save_overlay

    def capture(path, **kwargs):
        titles.append(kwargs["title"])
        return real(path, **kwargs)

    monkeypatch.setattr(outputs, "save_overlay", capture)
    run_pipeline(make_config(phantom_dataset, tmp_path / "o", generator="zscore"), host)
    assert titles
    assert all(title.startswith("zscore on brats (real data) — ") for title in titles), titles[0]


def test_train_on_one_dataset_and_test_on_another(phantom_dataset, tmp_path, host):
    import shutil

    from wsad_core.config import RunConfig

    first, second = tmp_path / "train-set", tmp_path / "test-set"
    for case in sorted(phantom_dataset.iterdir()):
        shutil.copytree(case, (first if case.name < "P004" else second) / case.name)
    config = make_config(first, tmp_path / "cross", generator="zscore")
    raw = config.model_dump(mode="json")
    raw["data"]["test_source"] = str(second)
    run_pipeline(RunConfig.model_validate(raw), host)
    split = json.loads((tmp_path / "cross" / "split.json").read_text())
    assert split["test"] == ["P004", "P005"]
    assert sorted(split["train"] + split["validation"]) == ["P000", "P001", "P002", "P003"]
    raw["data"]["split"] = {"folds": 2}
    with pytest.raises(ValueError, match="test_source"):
        RunConfig.model_validate(raw)
