from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import click
import pytest

from wsad_core.cli import cli, main

FAST_DATA = [
    "-o",
    "data.preprocess.size=32",
    "-o",
    "data.preprocess.skip_first=4",
    "-o",
    "data.preprocess.skip_last=4",
    "-o",
    "data.preprocess.min_lesion_pixels=20",
    "-o",
    "evaluator.per-slice.min_lesion_pixels=20",
    "--overlays",
    "1",
    "--no-progress",
]
FAST = [*FAST_DATA, "-o", "segmenter.epochs=1", "-o", "segmenter.channels=[8, 16]"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path_factory.getbasetemp() / "wsad-cache"))


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_option_of_every_command_is_explained():
    def walk(command: click.Command, path: str):
        yield path, command
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, f"{path} {name}")

    for path, command in walk(cli, "wsad"):
        assert command.help, f"`{path}` has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"`{path}` option {param.opts} has no help text"


def test_plugins_json_lists_roles_and_survives_a_broken_plugin(capsys, tmp_path, monkeypatch):
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("raise RuntimeError('cannot import me')\n")
    monkeypatch.setenv("WSAD_PLUGINS_PATH", str(broken))
    code, out, _ = run_cli(capsys, "plugins", "--json")
    assert code == 0
    report = json.loads(out)
    states = {p["name"]: p for p in report["plugins"]}
    assert states["broken_plugin"]["state"] == "failed"
    assert "RuntimeError: cannot import me" in states["broken_plugin"]["error"]
    roles = {(s["role"], s["name"]) for s in report["specs"]}
    assert {("generator", "zscore"), ("segmenter", "unet"), ("evaluator", "per-slice"), ("dataset", "brats")} <= roles
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0
    assert "cannot import me" in out


def test_plugins_options_and_requirements(capsys):
    code, out, _ = run_cli(capsys, "plugins", "--options", "unet")
    assert code == 0
    assert "epochs" in out
    code, out, _ = run_cli(capsys, "plugins", "--requirements")
    assert "wsad-baselines==" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--generator", "zscor", "--segmenter", "unet"], "no generator named 'zscor'"),
        (["run", "--generator", "zscore", "--segmenter", "unet", "-o", "segmenter.epochz=1"], "epochz"),
        (["run", "--generator", "zscore", "--segmenter", "unet", "-o", "segmenter.epochs=many"], "epochs"),
        (["run", "--segmenter", "unet"], "no generator is given"),
        (["run", "--generator", "zscore", "--data", "/no/such/folder"], "/no/such/folder"),
        (["run", "--generator", "zscore", "--device", "tpu"], "unknown device 'tpu'"),
        (["run", "--generator", "zscore", "--resume"], "--resume needs --out"),
        (["data", "inspect", "/no/such/folder"], "/no/such/folder"),
    ],
)
def test_errors_are_one_line_with_a_hint_and_no_traceback(capsys, tmp_path, args, message):
    code, _, err = run_cli(
        capsys, *args, *(["--out", str(tmp_path / "r")] if args[0] == "run" and "--resume" not in args else [])
    )
    assert code == 1
    assert message in err
    assert "error:" in err
    assert "Traceback" not in err


def test_verbose_errors_show_the_traceback(capsys):
    code, _, err = run_cli(capsys, "-v", "run", "--generator", "zscor", "--segmenter", "unet")
    assert code == 1
    assert "Traceback" in err


def test_corrupt_input_is_named(capsys, tmp_path, phantom_dataset):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(phantom_dataset, data)
    target = data / "P002" / "P002_flair.nii.gz"
    target.write_bytes(target.read_bytes()[:500])
    code, _, err = run_cli(
        capsys, "run", "--generator", "zscore", "--data", str(data), "--out", str(tmp_path / "r"), *FAST_DATA
    )
    assert code == 1
    assert "P002_flair.nii.gz" in err


def test_dry_run_prints_the_resolved_configuration(capsys):
    code, out, _ = run_cli(
        capsys, "run", "--generator", "zscore", "--segmenter", "unet", "--dry-run", "-o", "segmenter.epochs=2"
    )
    assert code == 0
    assert "epochs: 2" in out
    assert "learning_rate" in out, "defaults of the plugin options are resolved"


def test_run_then_eval_of_its_maps_gives_the_same_numbers(capsys, tmp_path, phantom_dataset):
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        capsys,
        "run",
        "--generator",
        "zscore",
        "--segmenter",
        "unet",
        "--data",
        str(phantom_dataset),
        "--out",
        str(out),
        *FAST,
    )
    assert code == 0, err
    assert "per-slice" in stdout
    assert "NOTE: generator zscore: reference baseline" in stdout
    eval_out = tmp_path / "eval"
    code, _, err = run_cli(
        capsys,
        "eval",
        str(out / "maps"),
        str(phantom_dataset),
        "--threshold",
        "fixed:0.5",
        "-o",
        "preprocess.skip_first=4",
        "-o",
        "preprocess.skip_last=4",
        "-o",
        "evaluator.per-slice.min_lesion_pixels=20",
        "--out",
        str(eval_out),
    )
    assert code == 0, err
    # Cases without a map (the training patients) count as all-zero: compare the test patients only.
    split = json.loads((out / "split.json").read_text())
    test_cases = set(split["test"] if isinstance(split["test"], list) else split["test"]["cases"])
    run_rows = _rows(out, test_cases, "fixed:0.5")
    eval_rows = _rows(eval_out, test_cases, "fixed:0.5")
    assert run_rows
    for key, value in run_rows.items():
        assert eval_rows[key] == pytest.approx(value, abs=1e-6), key


def _rows(directory: Path, cases: set[str], rule: str) -> dict[tuple[str, str, str, int | None], float]:
    from wsad_core.results import read_case_rows

    return {
        (r["protocol"], r["metric"], r["case_id"], r["slice_index"]): r["value"]
        for r in read_case_rows(directory)
        if r["case_id"] in cases
        and r["threshold_rule"] == rule
        and r.get("target", "test") == "test"
        and r["value"] is not None
    }


def test_data_inspect_counts_slices(capsys, phantom_dataset):
    code, out, _ = run_cli(capsys, "data", "inspect", str(phantom_dataset), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["dataset"] == "brats"
    assert report["modalities"] == ["flair", "t1"]
    assert len([row for row in report["cases"] if row.get("case") != "total"]) >= 6


@pytest.mark.realdata
def test_run_on_the_real_brats_cases_writes_the_results_directory(capsys, tmp_path, real_root):
    out = tmp_path / "real"
    code, _, err = run_cli(
        capsys,
        "run",
        "--generator",
        "zscore",
        "--segmenter",
        "unet",
        "--data",
        str(real_root),
        "--out",
        str(out),
        "-o",
        "data.preprocess.size=64",
        "-o",
        "segmenter.epochs=1",
        "--overlays",
        "2",
        "--no-progress",
    )
    assert code == 0, err
    assert (out / "summary.md").read_text().count("brats-demo") >= 1
    assert len(list((out / "maps").glob("*.nii.gz"))) == 2
    assert len(list((out / "overlays").glob("*.png"))) == 2


@pytest.mark.parametrize(
    ("code", "advice"), [(errno.ENOSPC, "disk is full"), (errno.EROFS, "read-only"), (errno.EACCES, "permission")]
)
def test_os_errors_say_what_happened_to_which_path_and_what_to_do(capsys, tmp_path, monkeypatch, code, advice):
    from wsad_core.results import rundir

    def failing_write(path, value):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(rundir, "write_yaml", failing_write)
    out = tmp_path / "out"
    status, _, err = run_cli(capsys, "run", "--generator", "zscore", "--out", str(out), *FAST_DATA)
    assert status == 1
    text = " ".join(err.split())
    assert "unexpected" not in text
    assert str(out / "config.yaml") in text
    assert os.strerror(code) in text
    assert errno.errorcode[code] in text
    assert advice in text
    assert "--resume" in text
    assert json.loads((out / "run.json").read_text())["status"] == "failed", "marked failed, so resumable"


def test_tables_written_to_a_pipe_keep_every_character(capsys, monkeypatch, phantom_dataset):
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, _ = run_cli(capsys, "data", "inspect", str(phantom_dataset))
    assert code == 0
    assert "…" not in out
    for case_id in ("P000", "P005"):
        assert case_id in out
    for header in ("lesion vox", "no brain", "brain %", "spacing mm"):
        assert header in out


def test_eval_names_files_that_match_no_case_and_refuses_when_none_match(capsys, tmp_path, phantom_dataset):
    import nibabel as nib
    import numpy as np

    maps = tmp_path / "maps"
    maps.mkdir()
    shape = nib.load(next(phantom_dataset.glob("P000/*flair*"))).shape
    nib.save(nib.Nifti1Image(np.zeros(shape, np.float32), np.eye(4)), maps / "P000_pred.nii.gz")
    options = ["--threshold", "fixed:0.5", "-o", "preprocess.skip_first=4", "-o", "preprocess.skip_last=4"]
    code, _, err = run_cli(capsys, "eval", str(maps), str(phantom_dataset), *options, "--out", str(tmp_path / "e1"))
    assert code == 1
    text = " ".join(err.split())
    assert "no map for any of the 6 cases" in text
    assert "P000_pred.nii.gz" in text

    nib.save(nib.Nifti1Image(np.zeros(shape, np.float32), np.eye(4)), maps / "P000.nii.gz")
    code, _, err = run_cli(capsys, "eval", str(maps), str(phantom_dataset), *options, "--out", str(tmp_path / "e2"))
    assert code == 0, err
    text = " ".join(err.split())
    assert "match no case and are ignored: P000_pred.nii.gz" in text


def test_progress_is_logged_when_output_is_not_a_terminal(capsys, tmp_path, phantom_dataset):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", "--generator", "zscore", "--data", str(phantom_dataset), "--out", str(out))
    assert code == 0, err
    log = (out / "run.log").read_text()
    assert "preprocessing: started (6 to do)" in log
    assert "preprocessing: 6/6 done in" in log
    assert "preprocessing: started" in err, "on stderr too unless -q"


def test_verbosity_options_work_after_the_subcommand(capsys, tmp_path, phantom_dataset):
    arguments = ["--generator", "zscore", "--data", str(phantom_dataset)]
    code, _, err = run_cli(capsys, "run", *arguments, "--out", str(tmp_path / "quiet"), "-q")
    assert code == 0, err
    assert "preprocessing" not in err, "-q after the subcommand hides the INFO lines"
    assert "preprocessing: started" in (tmp_path / "quiet" / "run.log").read_text(), "run.log keeps them"
    code, _, err = run_cli(capsys, "plugins", "-v")
    assert code == 0, err


def test_eval_of_a_run_folder_reproduces_the_runs_own_test_numbers(capsys, tmp_path, phantom_dataset):
    out = tmp_path / "run"
    code, _, err = run_cli(
        capsys, "run", "--generator", "zscore", "--data", str(phantom_dataset), "--out", str(out), *FAST_DATA
    )
    assert code == 0, err
    eval_out = tmp_path / "eval"
    code, _, err = run_cli(
        capsys, "eval", str(out), str(phantom_dataset), "--threshold", "fixed:0.5", "--out", str(eval_out)
    )
    assert code == 0, err
    assert "without a map" not in err, "a run folder scores its own test patients, nothing else"
    run_summary = {
        (r["protocol"], r["metric"]): r["mean"]
        for r in json.loads((out / "summary.json").read_text())["rows"]
        if r.get("target", "test") == "test" and r["threshold_rule"] == "fixed:0.5"
    }
    eval_summary = {
        (r["protocol"], r["metric"]): r["mean"]
        for r in json.loads((eval_out / "summary.json").read_text())["rows"]
        if r["threshold_rule"] == "fixed:0.5"
    }
    assert run_summary
    for key, value in run_summary.items():
        assert eval_summary[key] == pytest.approx(value, abs=1e-9), key


def test_run_scale_cpu_fills_reduced_settings_under_the_users_own(capsys):
    code, out, err = run_cli(
        capsys, "run", "--generator", "zscore", "--segmenter", "rasalore", "--scale", "cpu", "-o", "segmenter.epochs=5",
        "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    import yaml

    options = yaml.safe_load(out)["config"]["pipeline"]["segmenter"]["options"]
    assert options == {"preset": "cpu-small", "epochs": 5}, "the CPU preset, with -o winning"
    work = [line for line in out.splitlines() if line.startswith("# work:")]
    assert any("training slices" in line for line in work), out
    assert any("segmenter rasalore: 5 epochs x up to" in line for line in work), out
