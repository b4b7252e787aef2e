"""``wsad bench`` killed (SIGKILL) at random points resumes to the uninterrupted table, leaving no run "running"."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

UNET = {"name": "unet", "options": {"epochs": 2, "channels": [8, 16], "batch_size": 8}}
CONFIG = {
    "name": "faults",
    "datasets": [
        {
            "name": "phantoms",
            "preprocess": {"skip_first": 4, "skip_last": 4, "size": 32, "min_lesion_pixels": 20},
        }
    ],
    "pipelines": [
        {"label": "zscore", "generator": {"name": "zscore"}},
        {"label": "zscore + unet", "generator": {"name": "zscore"}, "segmenter": UNET},
        {"label": "ae", "segmenter": {"name": "ae", "options": {"epochs": 1, "batch_size": 16, "image_size": 32}}},
    ],
    "seeds": [0],
    "evaluation": {"protocol_options": {"per-slice": {"min_lesion_pixels": 20}}},
    "overlays": 1,
}
WSAD = [sys.executable, "-c", "import sys; from wsad_core.cli import main; sys.exit(main())"]


def _bench(config: Path, out: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*WSAD, "-q", "bench", str(config), "--out", str(out), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill reaches every worker
    )


def _table(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open() as handle:
        return list(csv.DictReader(handle))


def _statuses(out: Path) -> dict[str, str]:
    return {str(p.parent.relative_to(out)): json.loads(p.read_text())["status"] for p in out.rglob("run.json")}


@pytest.fixture
def setup(phantom_dataset: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    config = tmp_path / "bench.json"
    config.write_text(json.dumps({**CONFIG, "datasets": [{**CONFIG["datasets"][0], "source": str(phantom_dataset)}]}))
    env = {**os.environ, "WSAD_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    return config, env


def test_killed_at_random_points_the_resumed_table_equals_the_uninterrupted_one(setup, tmp_path: Path) -> None:
    config, env = setup
    reference = tmp_path / "reference"
    started = time.perf_counter()
    process = _bench(config, reference, env)
    assert process.wait(timeout=600) == 0, process.stderr.read().decode() if process.stderr else ""
    duration = time.perf_counter() - started
    expected = _table(reference)
    assert set(_statuses(reference).values()) == {"finished"}

    killed = 0
    for seed in range(3):
        out = tmp_path / f"killed-{seed}"
        delay = random.Random(seed).uniform(0.2, 0.9) * duration  # somewhere in set-up, training or reporting
        process = _bench(config, out, env)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            killed += 1
        resumed = _bench(config, out, env, "--resume")
        assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode() if resumed.stderr else ""
        assert _table(out) == expected, f"seed {seed}: killed after {delay:.1f} s"
        left = {path: status for path, status in _statuses(out).items() if status != "finished"}
        assert not left, f"seed {seed}: run folders not finished after the resume: {left}"
        assert not list(out.rglob("run.lock")), "every lock released"
    assert killed >= 2, "the kills land while the benchmark runs"
