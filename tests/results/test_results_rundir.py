from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from wsad_core.errors import RunDirectoryError
from wsad_core.results import RunDirectory, config_fingerprint
from wsad_core.results import _stages as stages_module

FP_A = "a" * 64
FP_B = "b" * 64


def _status(run: RunDirectory) -> dict:
    return json.loads((run.root / "run.json").read_text())


def test_open_creates_directory_and_status(run):
    status = _status(run)
    assert status["status"] == "running"
    assert status["config_fingerprint"] == FP_A
    assert status["run_id"] == "run" == run.run_id
    assert status["resumed"] == 0
    assert status["error"] is None
    assert run.status_path.name == "run.json"


def test_existing_run_is_refused_without_resume(run):
    run.close()  # the first process has ended
    with pytest.raises(RunDirectoryError, match="already holds a run; pass --resume") as info:
        RunDirectory.open(run.root, config_fingerprint=FP_A, resume=False)
    assert "choose another --out" in str(info.value)


def test_resume_keeps_creation_time_and_counts(run):
    run.mark("failed", error="killed")
    again = RunDirectory.open(run.root, config_fingerprint=FP_A, resume=True)
    status = _status(again)
    assert status["status"] == "running"
    assert status["error"] is None
    assert status["resumed"] == 1
    assert status["created_at"] == run.info()["created_at"]
    again.close()
    assert RunDirectory.open(run.root, config_fingerprint=FP_A, resume=True).resumed == 2


def test_resume_with_other_configuration_names_both_fingerprints(run):
    run.close()
    with pytest.raises(RunDirectoryError) as info:
        RunDirectory.open(run.root, config_fingerprint=FP_B, resume=True)
    message = str(info.value)
    assert FP_A[:16] in message
    assert FP_B[:16] in message


def test_resume_of_a_new_directory_starts_a_run(tmp_path):
    run = RunDirectory.open(tmp_path / "fresh", config_fingerprint=FP_A, resume=True)
    assert run.resumed == 0
    assert run.status == "running"


def test_empty_existing_directory_is_used(tmp_path):
    RunDirectory.open(tmp_path, config_fingerprint=FP_A, resume=False)
    assert (tmp_path / "run.json").is_file()


def test_foreign_non_empty_directory_and_file_are_refused(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(RunDirectoryError, match="not empty and holds no wsad run"):
        RunDirectory.open(tmp_path, config_fingerprint=FP_A, resume=False)
    with pytest.raises(RunDirectoryError, match="not a directory"):
        RunDirectory.open(tmp_path / "thesis.tex", config_fingerprint=FP_A, resume=True)
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_corrupt_status_file_is_reported(run):
    run.close()
    (run.root / "run.json").write_text("{not json")
    with pytest.raises(RunDirectoryError, match="unreadable"):
        RunDirectory.open(run.root, config_fingerprint=FP_A, resume=True)


def test_resume_sweeps_temporary_files(run):
    stale = run.root / "metrics" / ".cases.csv.0123456789ab.wsad-tmp"
    stale.parent.mkdir()
    stale.write_text("torn")
    run.close()
    RunDirectory.open(run.root, config_fingerprint=FP_A, resume=True)
    assert not stale.exists()


def test_mark_records_status_error_and_end_time(run):
    run.mark("failed", error="DataError: case_3/FLAIR.nii.gz is truncated")
    status = _status(run)
    assert status["status"] == "failed"
    assert status["error"].startswith("DataError")
    assert status["finished_at"] is not None
    run.mark("finished")
    assert _status(run)["status"] == "finished"
    assert _status(run)["error"] is None
    with pytest.raises(ValueError, match="status must be"):
        run.mark("done")  # type: ignore[arg-type]


def test_config_written_as_yaml_and_json(run):
    config = {"generator": {"name": "zscore", "sigma": 1.5}, "modalities": ("flair",), "out": Path("/x")}
    run.write_config(config)
    expected = {"generator": {"name": "zscore", "sigma": 1.5}, "modalities": ["flair"], "out": "/x"}
    assert yaml.safe_load(run.config_path.read_text()) == expected
    assert json.loads((run.root / "config.json").read_text()) == expected


def test_config_fingerprint_ignores_key_order_only():
    assert config_fingerprint({"a": 1, "b": [1, 2]}) == config_fingerprint({"b": [1, 2], "a": 1})
    assert config_fingerprint({"a": 1}) != config_fingerprint({"a": 2})
    assert len(config_fingerprint({})) == 64


def test_split_records_sha256_of_each_list(run):
    written = run.write_split({"train": ["c2", "c1"], "test": ("c3",), "seed": 42})
    on_disk = json.loads(run.split_path.read_text())
    assert on_disk == written
    assert on_disk["train"] == ["c2", "c1"]
    assert on_disk["sha256"]["train"] == hashlib.sha256(b"c2\nc1").hexdigest()
    assert on_disk["sha256"]["test"] == hashlib.sha256(b"c3").hexdigest()
    assert "seed" not in on_disk["sha256"]


def test_environment_written(run):
    run.write_environment({"device": "cpu", "seed": 3, "nan": float("nan")})
    assert json.loads(run.env_path.read_text()) == {"device": "cpu", "seed": 3, "nan": None}


def test_file_name_helpers(run):
    assert run.map_path("Brats18_TCIA_1") == run.root / "maps" / "Brats18_TCIA_1.nii.gz"
    assert run.overlay_path("case 1/..", 7) == run.root / "overlays" / "case%201%2F.._k007.png"
    assert run.path("metrics", "cases.csv") == run.metrics_dir / "cases.csv"
    assert run.map_path("..") == run.root / "maps" / "%2E..nii.gz"
    with pytest.raises(ValueError, match="file name"):
        run.map_path("")


def test_log_handler_appends_to_run_log(run):
    logger = logging.getLogger("wsad.test-results")
    handler = run.log_handler()
    logger.addHandler(handler)
    try:
        logger.warning("stage %s done", "pseudo-masks")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert "WARNING wsad.test-results: stage pseudo-masks done" in run.log_path.read_text()


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {"soft": rng.random((4, 16, 16), dtype=np.float32), "masks": rng.random((4, 16, 16)) > 0.7}


def test_stage_round_trip(run):
    arrays = _arrays()
    assert not run.stage_done("pseudo-masks", "k1")
    run.save_stage("pseudo-masks", "k1", arrays, {"source": "zscore", "n": 4})
    assert run.stage_done("pseudo-masks", "k1")
    loaded, meta = run.load_stage("pseudo-masks", "k1")
    assert meta == {"source": "zscore", "n": 4}
    assert set(loaded) == {"soft", "masks"}
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)
    # Survives reopening the directory (what --resume does).
    run.close()
    again = RunDirectory.open(run.root, config_fingerprint=FP_A, resume=True)
    assert again.stage_done("pseudo-masks", "k1")


def test_stage_with_another_key_is_not_done(run):
    run.save_stage("segmenter", "old-key", _arrays(), {})
    assert not run.stage_done("segmenter", "new-key")
    with pytest.raises(RunDirectoryError, match="saved with key old-key, not new-key"):
        run.load_stage("segmenter", "new-key")
    run.save_stage("segmenter", "new-key", _arrays(), {})
    assert run.stage_done("segmenter", "new-key")
    assert not run.stage_done("segmenter", "old-key")


def test_unfinished_stage_cannot_be_loaded(run):
    with pytest.raises(RunDirectoryError, match="not done"):
        run.load_stage("refiner", "k")


def test_crash_while_saving_leaves_stage_not_done(run, monkeypatch):
    run.save_stage("refiner", "k1", _arrays(), {"v": 1})

    def crash(path, value):
        raise OSError("killed while writing meta")

    monkeypatch.setattr(stages_module, "write_json", crash)
    with pytest.raises(OSError, match="killed"):
        run.save_stage("refiner", "k2", _arrays(), {"v": 2})
    monkeypatch.undo()
    assert not run.stage_done("refiner", "k1")  # its arrays may already be replaced
    assert not run.stage_done("refiner", "k2")
    assert list(run.stage_dir("refiner").glob("*.wsad-tmp")) == []


def test_corrupt_stage_archive_is_reported(run):
    run.save_stage("generator", "k", _arrays(), {})
    (run.stage_dir("generator") / "arrays.npz").write_bytes(b"not a zip file")
    with pytest.raises(RunDirectoryError, match="unreadable"):
        run.load_stage("generator", "k")


def test_invalid_stage_name(run):
    with pytest.raises(ValueError, match="invalid stage name"):
        run.stage_dir("../escape")


def test_work_dir_survives_resume_and_is_cleared_on_key_change(run):
    work = run.work_dir("segmenter", key="k1")
    (work / "epoch_3.pt").write_bytes(b"ckpt")
    assert run.work_dir("segmenter", key="k1") == work
    assert (work / "epoch_3.pt").exists()
    assert (run.work_dir("segmenter") / "epoch_3.pt").exists()  # no key: never cleared
    run.work_dir("segmenter", key="k2")
    assert not (work / "epoch_3.pt").exists()
    assert work.is_dir()
