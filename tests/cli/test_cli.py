from __future__ import annotations

import json
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
