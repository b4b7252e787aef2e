"""RASALoRE cost: train step and inference per slice, peak memory, parameter count.

Each configuration (batch size × memory format) runs in its own subprocess so that its
peak memory is its own (CPU: peak RSS of that process; CUDA: ``max_memory_allocated``).
A train step is the full method: forward at the preset's size (paper: 128² in, 256² out),
the complete RASALoRE loss (L_Dec with the Gaussian weight maps and a refined mask,
L_PA, L_Struct), backward and an SGD step. Inference is a forward pass under
``inference_mode``. Times are the best of ``--repeats`` after one warm-up step; bf16
autocast is used on CUDA only (as in training). The paper reports ~12 GB of GPU memory
for training at batch 16 (A6000).

Usage::

    python benchmarks/bench_rasalore.py                      # paper preset, CPU, batch 16 and 4
    python benchmarks/bench_rasalore.py --preset cpu-small --batch 16 --batch 4
    python benchmarks/bench_rasalore.py --device cuda        # AMP (bf16) on CUDA
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch
from wsad_rasalore._data import Batch
from wsad_rasalore._training import StagePlan, batch_loss
from wsad_rasalore.config import RasaloreOptions
from wsad_rasalore.lore import lore_embedding
from wsad_rasalore.torch_model import RasaloreNet, parameter_counts

from wsad_core.device import autocast


def _batch(options: RasaloreOptions, size: int) -> Batch:
    geometry = options.geometry()
    s, out = geometry.input_size, geometry.output_size
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (size, 1, s, s), generator=generator).float()
    rows, cols = torch.meshgrid(torch.arange(out), torch.arange(out), indexing="ij")
    ddpt = ((rows - out * 0.5) ** 2 + (cols - out * 0.45) ** 2 < (out * 0.15) ** 2).float().expand(size, -1, -1)
    sam = ((rows - out * 0.52) ** 2 + (cols - out * 0.45) ** 2 < (out * 0.13) ** 2).float().expand(size, -1, -1)
    labels = (torch.rand(size, geometry.num_points, generator=generator) < 0.05).float()
    return Batch(images, ddpt.contiguous(), sam.contiguous(), labels)


def _time(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up (oneDNN primitive creation, CUDA kernels)
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def run_single(preset: str, batch_size: int, device_name: str, channels_last: bool, repeats: int, mode: str) -> dict:
    """One configuration in this process: ``mode`` is 'train' or 'infer'."""
    options = RasaloreOptions(preset=preset, channels_last=channels_last)
    geometry = options.geometry()
    device = torch.device(device_name)
    amp = device.type == "cuda"
    torch.manual_seed(0)
    net = RasaloreNet(geometry, {"t2": lore_embedding(geometry.num_points, geometry.embed_dim, 0)}).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    batch = _batch(options, batch_size)
    plan = StagePlan(("t2",), None, 0, 1, "bench")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def train_step() -> None:
        net.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast(device.type, amp):
            loss = batch_loss(net, batch, plan, options, geometry, device)
        loss.backward()
        optimizer.step()

    def infer() -> None:
        net.eval()
        images = batch.images.to(device)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(device.type, amp):
            torch.sigmoid(net(images).logits.float())

    seconds = _time(train_step if mode == "train" else infer, repeats, device)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB on Linux
    return {
        "preset": preset,
        "geometry": geometry.describe(),
        "parameters": parameter_counts(net)["total"],
        "device": device_name if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "amp": amp,
        "channels_last": channels_last,
        "batch": batch_size,
        "mode": mode,
        "seconds_per_batch": seconds,
        "ms_per_slice": 1000 * seconds / batch_size,
        "peak_gib": peak,
        "peak_kind": "cuda max_memory_allocated" if device.type == "cuda" else "process peak RSS",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper", choices=["paper", "cpu-small"])
    parser.add_argument("--batch", type=int, action="append", help="batch size, repeatable (default 16 and 4)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--memory-format", choices=["both", "contiguous", "channels_last"], default="both")
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.single:
        batch, channels_last, mode = args.single.split(",")
        row = run_single(args.preset, int(batch), args.device, channels_last == "1", args.repeats, mode)
        print(json.dumps(row))
        return
    formats = {"both": [False, True], "contiguous": [False], "channels_last": [True]}[args.memory_format]
    rows = []
    for batch in args.batch or [16, 4]:
        for channels_last in formats:
            for mode in ("train", "infer"):
                command = [
                    sys.executable,
                    __file__,
                    "--preset",
                    args.preset,
                    "--device",
                    args.device,
                    "--threads",
                    str(args.threads),
                    "--repeats",
                    str(args.repeats),
                    "--single",
                    f"{batch},{int(channels_last)},{mode}",
                ]
                result = subprocess.run(command, capture_output=True, text=True, check=True)
                row = json.loads(result.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(
                    f"{row['preset']:9s} {row['device']:10s} threads {row['threads']} "
                    f"{'channels_last' if channels_last else 'contiguous   '} B={batch:<3d} {mode:5s} "
                    f"{row['seconds_per_batch']:8.2f} s/batch {row['ms_per_slice']:9.1f} ms/slice "
                    f"peak {row['peak_gib']:5.2f} GiB ({row['peak_kind']})",
                    flush=True,
                )
    print(f"parameters: {rows[0]['parameters']:,} ({rows[0]['geometry']})")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
