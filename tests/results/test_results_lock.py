"""One writer per run folder: ``run.lock`` names the holder; live holders block, stale ones are taken over."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from wsad_core.errors import RunDirectoryError
from wsad_core.results import RunDirectory
from wsad_core.results import _lock as lock_module

FP = "a" * 64
REPO = Path(__file__).resolve().parents[2]

#: Opens the run folder given as argv[1], says so, then holds it until stdin closes.
HOLDER = """
import sys
from wsad_core.results import RunDirectory
run = RunDirectory.open(sys.argv[1], config_fingerprint="a" * 64, resume=True)
print("locked", flush=True)
sys.stdin.read()
"""


def _lock_record(run_dir: Path, **fields: object) -> dict[str, object]:
    record: dict[str, object] = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": "2026-01-01T00:00:00+00:00",
        "command": "wsad run --out x",
        "token": "0123456789abcdef",
    }
    record.update(fields)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.lock").write_text(json.dumps(record))
    return record


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock on ``tmp_path / 'run'``; yields (process, folder)."""
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        assert line.strip() == "locked", process.stderr.read()
        yield process, run_dir
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def test_a_second_open_in_the_same_process_is_refused_while_the_first_holds_it(tmp_path):
    first = RunDirectory.open(tmp_path / "run", config_fingerprint=FP, resume=False)
    assert first.locked
    lock = json.loads((first.root / "run.lock").read_text())
    assert (lock["pid"], lock["host"]) == (os.getpid(), socket.gethostname())
    assert lock["started_at"]
    with pytest.raises(RunDirectoryError, match=f"already open in this process \\(pid {os.getpid()}\\)"):
        RunDirectory.open(first.root, config_fingerprint=FP, resume=True)
    assert first.locked, "the refused opener leaves the holder's lock alone"
    assert json.loads((first.root / "run.json").read_text())["resumed"] == 0
    first.close()
    assert not (first.root / "run.lock").exists()
    assert RunDirectory.open(first.root, config_fingerprint=FP, resume=True).resumed == 1


def test_the_lock_is_released_when_the_run_ends_so_resume_works(tmp_path):
    for status in ("finished", "failed"):
        run = RunDirectory.open(tmp_path / status, config_fingerprint=FP, resume=False)
        run.mark("running")
        assert (run.root / "run.lock").is_file(), "still running: still locked"
        run.mark(status)
        assert not (run.root / "run.lock").exists()
        assert not run.locked
        again = RunDirectory.open(run.root, config_fingerprint=FP, resume=True)
        assert again.resumed == 1
        again.close()


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path, caplog):
    run_dir = tmp_path / "run"
    pid = _dead_pid()
    _lock_record(run_dir, pid=pid)
    with caplog.at_level(logging.WARNING, logger="wsad.results"):
        run = RunDirectory.open(run_dir, config_fingerprint=FP, resume=True)
    assert f"process {pid} is not running" in caplog.text
    assert json.loads((run_dir / "run.lock").read_text())["pid"] == os.getpid()
    assert run.status == "running", "a folder holding only a stale lock is a new run, not a foreign folder"
    run.close()


def test_a_lock_naming_this_pid_but_not_held_here_is_stale(tmp_path, caplog):
    _lock_record(tmp_path / "run")  # e.g. left by an earlier process that had the same pid
    with caplog.at_level(logging.WARNING, logger="wsad.results"):
        RunDirectory.open(tmp_path / "run", config_fingerprint=FP, resume=True).close()
    assert "which does not hold it" in caplog.text


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="process start times are read from /proc")
def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path, caplog):
    # The parent process is alive, but it is not the process that took the lock.
    _lock_record(tmp_path / "run", pid=os.getppid(), proc_start=1)
    with caplog.at_level(logging.WARNING, logger="wsad.results"):
        RunDirectory.open(tmp_path / "run", config_fingerprint=FP, resume=True).close()
    assert "now belongs to another process" in caplog.text


def test_a_lock_from_another_host_is_refused_with_how_to_remove_it(tmp_path):
    record = _lock_record(tmp_path / "run", host="gpu-node-17", pid=4242)
    with pytest.raises(RunDirectoryError) as info:
        RunDirectory.open(tmp_path / "run", config_fingerprint=FP, resume=True)
    message = str(info.value)
    assert "wsad process 4242 on host gpu-node-17" in message
    assert "cannot be checked" in message
    assert f"delete {tmp_path / 'run' / 'run.lock'}" in message
    assert json.loads((tmp_path / "run" / "run.lock").read_text()) == record, "left for its owner"


def test_an_unreadable_lock_is_refused_with_how_to_remove_it(tmp_path, monkeypatch):
    monkeypatch.setattr(lock_module, "_READ_PATIENCE_S", 0.1)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.lock").write_text("")
    with pytest.raises(RunDirectoryError, match="does not say who holds it") as info:
        RunDirectory.open(tmp_path / "run", config_fingerprint=FP, resume=True)
    assert "delete" in info.value.hint


def test_a_benchmark_lock_does_not_block_the_jobs_inside_it(tmp_path):
    bench = RunDirectory.open(tmp_path / "bench", config_fingerprint=FP, resume=False)
    job = RunDirectory.open(tmp_path / "bench" / "jobs" / "d" / "p" / "seed-0", config_fingerprint=FP, resume=False)
    assert bench.locked
    assert job.locked
    job.mark("finished")
    assert bench.locked
    bench.mark("finished")


def test_a_live_process_holding_the_lock_blocks_another_until_it_exits(holder):
    process, run_dir = holder
    with pytest.raises(RunDirectoryError) as info:
        RunDirectory.open(run_dir, config_fingerprint=FP, resume=True)
    message = str(info.value)
    assert f"in use by wsad process {process.pid} on host {socket.gethostname()}" in message
    assert f"kill {process.pid}" in info.value.hint
    assert "--resume" in info.value.hint
    assert json.loads((run_dir / "run.lock").read_text())["pid"] == process.pid
    # The holder ends normally: its lock goes with it.
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    assert not (run_dir / "run.lock").exists()
    RunDirectory.open(run_dir, config_fingerprint=FP, resume=True).close()


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_a_killed_holder_leaves_a_lock_that_the_next_run_takes_over(holder, caplog):
    process, run_dir = holder
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert (run_dir / "run.lock").is_file(), "a kill leaves the lock behind"
    with caplog.at_level(logging.WARNING, logger="wsad.results"):
        run = RunDirectory.open(run_dir, config_fingerprint=FP, resume=True)
    assert f"process {process.pid} is not running" in caplog.text
    assert run.resumed == 1
    run.close()


def test_wsad_run_resume_on_a_live_run_says_who_holds_it(holder, capsys):
    process, run_dir = holder
    from wsad_core.cli import main

    before = (run_dir / "run.json").read_text()
    code = main(["run", "--generator", "zscore", "--out", str(run_dir), "--resume"])
    assert code == 1
    error = " ".join(capsys.readouterr().err.split())
    assert f"in use by wsad process {process.pid}" in error
    assert (run_dir / "run.json").read_text() == before, "the second writer wrote nothing"


def test_a_run_that_fails_before_it_starts_working_frees_its_folder(tmp_path, phantom_dataset, monkeypatch):
    from tests.pipeline.conftest import make_config
    from wsad_core import PluginHost
    from wsad_core.pipeline import run_pipeline
    from wsad_core.results import rundir as rundir_module

    def full_disk(path, value):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(rundir_module, "write_yaml", full_disk)
    config = make_config(phantom_dataset, tmp_path / "run", generator="zscore")
    with pytest.raises(OSError, match="No space left"):
        run_pipeline(config, PluginHost())
    assert not (tmp_path / "run" / "run.lock").exists()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
    RunDirectory.open(tmp_path / "run", config_fingerprint=config.fingerprint(), resume=True).close()


def test_bench_resume_on_a_live_benchmark_is_refused(holder):
    from wsad_core import PluginHost
    from wsad_core.bench import BenchConfig, run_bench

    process, bench_dir = holder
    reference = {"label": "VQVAE", "reference_only": True}
    config = BenchConfig.model_validate(
        {"name": "b", "datasets": [{"name": "d", "source": "demo"}], "pipelines": [reference]}
    )
    for flag in ("resume", "update"):
        with pytest.raises(RunDirectoryError, match=f"in use by wsad process {process.pid}"):
            run_bench(config, PluginHost(), out_dir=bench_dir, **{flag: True})
    assert not (bench_dir / "bench.yaml").exists(), "nothing written beside the live benchmark"
