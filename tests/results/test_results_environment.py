from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from importlib import metadata

import numpy as np
import pytest

from wsad_core.results import capture_environment


def test_contents_outside_a_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    env = capture_environment(device="cpu", seed=11)
    assert env["git_commit"] is None
    assert env["git_dirty"] is None
    assert env["device"] == "cpu"
    assert env["seed"] == 11
    assert env["cpu_count"] >= 1
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["argv"] == sys.argv
    assert datetime.fromisoformat(env["timestamp"]).utcoffset() == timedelta(0)
    assert env["packages"]["numpy"] == np.__version__
    assert env["packages"]["wsad-core"] == metadata.version("wsad-core")
    assert "not-a-real-package" not in env["packages"]
    json.dumps(env, allow_nan=False)  # env.json must be plain JSON


def test_torch_section():
    torch = pytest.importorskip("torch")
    env = capture_environment(device="cpu", seed=0)
    assert env["torch"]["version"] == torch.__version__
    assert env["torch"]["threads"] == torch.get_num_threads()
    assert env["torch"]["cuda_available"] == torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert env["torch"]["gpu"] is None


def test_plugin_distributions_are_listed():
    env = capture_environment(device="cpu", seed=0)
    expected = {ep.dist.metadata["Name"] for ep in metadata.entry_points(group="wsad") if ep.dist is not None}
    assert set(env["plugin_distributions"]) == expected
    for name in expected:
        assert env["packages"][name] == env["plugin_distributions"][name]


def test_extra_entries_and_collisions():
    env = capture_environment(device="cpu", seed=0, extra={"weights": {"medsam": "ab" * 32}})
    assert env["weights"] == {"medsam": "ab" * 32}
    with pytest.raises(ValueError, match="seed"):
        capture_environment(device="cpu", seed=0, extra={"seed": 1})


def test_missing_git_gives_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable anywhere
    env = capture_environment(device="cpu", seed=0)
    assert env["git_commit"] is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_commit_and_dirty_flag_inside_a_repository(tmp_path, monkeypatch):
    def git(*args: str) -> str:
        identity = ["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
        return subprocess.run(
            ["git", *identity, *args], cwd=tmp_path, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("commit", "-q", "-m", "first")
    monkeypatch.chdir(tmp_path)
    env = capture_environment(device="cpu", seed=0)
    assert env["git_commit"] == git("rev-parse", "HEAD")
    assert env["git_dirty"] is False
    (tmp_path / "a.txt").write_text("2")
    assert capture_environment(device="cpu", seed=0)["git_dirty"] is True
