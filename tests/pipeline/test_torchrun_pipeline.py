"""`wsad run` under torchrun: two ranks train the segmenter together, rank 0 alone writes the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_wsad_run_under_torchrun_with_two_ranks(phantom_dataset, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WSAD_CACHE": str(tmp_path / "cache")}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "wsad_core", "-q", "run", "--generator", "zscore", "--segmenter", "unet",
        "--data", str(phantom_dataset), "--out", str(out), "--device", "cpu", "--no-progress",
        "-o", "data.preprocess.skip_first=4", "-o", "data.preprocess.skip_last=4", "-o", "data.preprocess.size=32",
        "-o", "data.preprocess.min_lesion_pixels=20",
        "-o", "evaluation.protocol_options.per-slice.min_lesion_pixels=20",
        "-o", "output.overlays=1", "-o", "segmenter.epochs=2", "-o", "segmenter.channels=[8,16]",
        "-o", "segmenter.batch_size=8",
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    environment = json.loads((out / "env.json").read_text())
    assert environment["world_size"] == 2
    unet = environment["provenance"]["segmenter"]
    assert unet["epochs"] == 2, unet
    assert len(unet["seconds_per_epoch"]) == 2, unet
    summary = json.loads((out / "summary.json").read_text())
    assert summary, "rank 0 wrote the summary"
    assert not list(tmp_path.glob("run-*")), "the second rank wrote no run directory of its own"
