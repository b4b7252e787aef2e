"""Data-parallel training under torchrun (Gloo on CPU) equals one process on the merged batches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).with_name("_ddp_script.py")


def test_two_ranks_train_like_one_process_on_merged_batches(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "merged"], check=True, env=env)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(SCRIPT),
            str(tmp_path),
            "parallel",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    merged, parallel = torch.load(tmp_path / "merged.pt"), torch.load(tmp_path / "parallel.pt")
    torch.testing.assert_close(parallel["weight"], merged["weight"], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(parallel["bias"], merged["bias"], atol=1e-6, rtol=1e-5)
    assert parallel["loss"] == [pytest_approx(v) for v in merged["loss"]]
    assert (tmp_path / "parallel" / "last.pt").is_file(), "rank 0 wrote the checkpoint"


def pytest_approx(value: float):
    import pytest

    return pytest.approx(value, rel=1e-5)
