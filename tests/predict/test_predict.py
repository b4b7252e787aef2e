"""``wsad predict`` and ``wsad export`` on the shared BraTS cases: a run applied to new scans in a fresh process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from wsad_core.cli import main

Capture = pytest.CaptureFixture[str]
_RUN_OPTIONS = ("-o", "data.max_cases=5", "-o", "segmenter.epochs=1", "-o", "data.preprocess.size=64")


def _cli(capsys: Capture, *args: str) -> SimpleNamespace:
    """``wsad`` in this process, as the console script runs it (errors as the user sees them)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return SimpleNamespace(exit_code=code, output=captured.out + captured.err)


def _wsad(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``wsad`` in a fresh Python process (nothing shared with the process that trained)."""
    environment = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "wsad_core", *args], capture_output=True, text=True, cwd=cwd, env=environment
    )


@pytest.fixture(scope="module")
def trained_run(real_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """zscore -> U-Net trained briefly on the first five shared cases (case_0 is its test patient)."""
    out = tmp_path_factory.mktemp("predict") / "run"
    code = main(
        ["run", "--generator", "zscore", "--segmenter", "unet", "--data", str(real_root), *_RUN_OPTIONS,
         "--overlays", "0", "--out", str(out), "--no-progress"],
    )  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def bundle(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("bundle") / "zscore-unet"
    assert main(["export", str(trained_run), str(target)]) == 0
    return target


def _volume(path: Path) -> tuple[np.ndarray, np.ndarray]:
    image = nib.load(path)
    return np.asarray(image.dataobj), image.affine


def test_the_run_keeps_its_trained_state_with_checksums(trained_run: Path) -> None:
    manifest = json.loads((trained_run / "model" / "model.json").read_text())
    assert set(manifest["stages"]) == {"generator", "segmenter"}
    assert manifest["stages"]["segmenter"]["plugin"] == "unet"
    for entry in manifest["stages"].values():
        assert (trained_run / "model" / entry["file"]).stat().st_size > 0


def test_bundle_predicts_in_a_fresh_process_the_maps_the_run_wrote(
    bundle: Path, trained_run: Path, real_root: Path, tmp_path: Path
) -> None:
    """The run's own test patient gives bit-identical maps; unseen patients get maps and masks in their grid."""
    out = tmp_path / "preds"
    done = _wsad("predict", str(bundle), str(real_root), "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    run_map, run_affine = _volume(trained_run / "maps" / "case_0.nii.gz")
    new_map, new_affine = _volume(out / "maps" / "case_0.nii.gz")
    np.testing.assert_array_equal(new_map, run_map)
    np.testing.assert_array_equal(new_affine, run_affine)
    threshold = json.loads((out / "prediction.json").read_text())["threshold"]
    summary = json.loads((trained_run / "summary.json").read_text())["rows"]
    val_best = {
        r["threshold"]
        for r in summary
        if (r["target"], r["protocol"], r["threshold_rule"], r["metric"]) == ("test", "per-slice", "val-best", "dice")
    }
    assert val_best == {threshold}
    for case in ("case_5", "case_6", "case_7"):  # never seen by the run (max_cases=5)
        scores, affine = _volume(out / "maps" / f"{case}.nii.gz")
        mask, _ = _volume(out / "masks" / f"{case}.nii.gz")
        source = nib.load(real_root / case / "FLAIR.nii.gz")
        assert scores.shape == source.shape
        assert np.allclose(affine, source.affine)
        assert mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
        np.testing.assert_array_equal(mask, (scores >= threshold).astype(np.uint8))
    assert "8 case(s) predicted" in done.stdout


def test_nifti_files_give_the_same_maps_as_the_dataset_folder(
    capsys: Capture, trained_run: Path, real_root: Path, tmp_path: Path
) -> None:
    image = tmp_path / "case_0.nii.gz"
    shutil.copy(real_root / "case_0" / "FLAIR.nii.gz", image)
    result = _cli(capsys, "predict", str(trained_run), str(image), "--out", str(tmp_path / "p"))
    assert result.exit_code == 0, result.output
    new_map, _ = _volume(tmp_path / "p" / "maps" / "case_0.nii.gz")
    run_map, _ = _volume(trained_run / "maps" / "case_0.nii.gz")
    np.testing.assert_array_equal(new_map, run_map)


def test_an_interrupted_prediction_continues_and_another_model_is_refused(
    capsys: Capture, trained_run: Path, real_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p"
    args = ["predict", str(trained_run), str(real_root), "--out", str(out)]
    assert _cli(capsys, *args).exit_code == 0
    (out / "masks" / "case_6.nii.gz").unlink()  # as if stopped while writing case_6
    kept = (out / "maps" / "case_7.nii.gz").stat().st_mtime_ns
    again = _cli(capsys, *args)
    assert again.exit_code == 0, again.output
    assert "1 case(s) predicted, 7 kept from an earlier call" in again.output
    assert (out / "masks" / "case_6.nii.gz").is_file()
    assert (out / "maps" / "case_7.nii.gz").stat().st_mtime_ns == kept
    other = _cli(capsys, *args, "--threshold", "0.9")
    assert other.exit_code != 0
    assert "holds predictions made with another threshold" in other.output


def test_evaluate_scores_the_predictions_with_the_runs_protocols(
    capsys: Capture, trained_run: Path, real_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p"
    result = _cli(capsys, "predict", str(trained_run), str(real_root), "--out", str(out), "--evaluate")
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "evaluation" / "summary.json").read_text())["rows"]
    dice = [r for r in rows if r["protocol"] == "per-slice" and r["metric"] == "dice"]
    assert {r["threshold_rule"].split(":")[0] for r in dice} == {"fixed", "oracle"}
    assert all(0.0 <= r["mean"] <= 1.0 and r["n"] > 0 for r in dice)


def _edited_bundle(bundle: Path, tmp_path: Path, edit: object) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    record = json.loads((copy / "bundle.json").read_text())
    edit(record)  # type: ignore[operator]
    (copy / "bundle.json").write_text(json.dumps(record))
    return copy


def test_a_missing_plugin_is_named_with_its_version(
    capsys: Capture, bundle: Path, real_root: Path, tmp_path: Path
) -> None:
    def rename(record: dict) -> None:
        record["plugins"]["segmenter"] = {"name": "nnunet", "version": "2.5"}
        record["config"]["pipeline"]["segmenter"]["name"] = "nnunet"

    copy = _edited_bundle(bundle, tmp_path, rename)
    result = _cli(capsys, "predict", str(copy), str(real_root), "--out", str(tmp_path / "p"))
    assert result.exit_code != 0
    assert "segmenter plugin 'nnunet' (version 2.5), which is not installed" in result.output


def test_another_plugin_version_is_refused_unless_allowed(
    capsys: Capture, bundle: Path, real_root: Path, tmp_path: Path
) -> None:
    def older(record: dict) -> None:
        record["plugins"]["segmenter"]["version"] = "0.0.1"

    copy = _edited_bundle(bundle, tmp_path, older)
    args = ["predict", str(copy), str(real_root / "case_5" / "FLAIR.nii.gz")]
    refused = _cli(capsys, *args, "--out", str(tmp_path / "a"))
    assert refused.exit_code != 0
    assert "the model was trained with 0.0.1" in refused.output
    allowed = _cli(capsys, *args, "--out", str(tmp_path / "b"), "--allow-version-mismatch")
    assert allowed.exit_code == 0, allowed.output


def test_altered_weights_are_detected(capsys: Capture, bundle: Path, real_root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    weights = copy / "model" / "segmenter.state"
    weights.write_bytes(weights.read_bytes()[:-16])
    result = _cli(capsys, "predict", str(copy), str(real_root), "--out", str(tmp_path / "p"))
    assert result.exit_code != 0
    assert "does not match the sha256" in result.output


def test_bad_sources_and_inputs_say_what_is_wrong(capsys: Capture, trained_run: Path, tmp_path: Path) -> None:
    cases = {
        "neither a run directory": [str(tmp_path), "demo"],
        "input file(s) not found": [str(trained_run), str(tmp_path / "nope.nii.gz")],
        "mix NIfTI files and other paths": [str(trained_run), "demo", str(tmp_path / "x.nii.gz")],
    }
    for message, args in cases.items():
        result = _cli(capsys, "predict", *args, "--out", str(tmp_path / "p"))
        assert result.exit_code != 0, message
        assert message in result.output
    status = json.loads((trained_run / "run.json").read_text())
    unfinished = tmp_path / "unfinished"
    shutil.copytree(trained_run, unfinished)
    (unfinished / "run.json").write_text(json.dumps({**status, "status": "running"}))
    result = _cli(capsys, "predict", str(unfinished), "demo", "--out", str(tmp_path / "q"))
    assert result.exit_code != 0
    assert "did not finish" in result.output
    exists = _cli(capsys, "export", str(trained_run), str(tmp_path))
    assert exists.exit_code != 0
    assert "exists" in exists.output


def test_a_rasalore_run_predicts_the_same_maps_from_its_bundle(capsys: Capture, tmp_path: Path) -> None:
    """RASALoRE's loader (weights, options and the LoRE regenerated from its recorded seeds) on the demo data."""
    run = tmp_path / "run"
    trained = _cli(
        capsys, "run", "--generator", "zscore", "--segmenter", "rasalore", "--data", "demo",
        "-o", "data.max_cases=5", "-o", "segmenter.preset=cpu-small", "-o", "segmenter.epochs=1",
        "--overlays", "0", "--out", str(run),
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert _cli(capsys, "export", str(run), str(tmp_path / "bundle")).exit_code == 0
    done = _wsad("predict", str(tmp_path / "bundle"), "demo", "--out", str(tmp_path / "p"), "--no-progress")
    assert done.returncode == 0, done.stderr
    test_case = json.loads((run / "split.json").read_text())["test"][0]
    run_map, _ = _volume(run / "maps" / f"{test_case}.nii.gz")
    new_map, _ = _volume(tmp_path / "p" / "maps" / f"{test_case}.nii.gz")
    np.testing.assert_array_equal(new_map, run_map)
    record = json.loads((tmp_path / "p" / "prediction.json").read_text())
    assert record["plugins"]["segmenter"]["name"] == "rasalore"
    assert any("synthetic" in str(d) for d in record["deviations"]), "the demo data's deviation travels along"
