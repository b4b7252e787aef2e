"""RASALoRE cost: train step, inference and augmentation per batch, peak memory — reference vs fast.

Each configuration runs in its own subprocess so that its peak memory is its own (CPU: peak
RSS of that process; CUDA: ``max_memory_allocated``). A train step is the full method:
forward at the preset's size (paper: 128² in, 256² out), the complete RASALoRE loss (L_Dec
with the Gaussian weight maps and a refined mask, L_PA, L_Struct), backward and an SGD step.
Inference is a forward pass under ``inference_mode``. Times are the median of ``--repeats``
after one warm-up step; bf16 autocast on CUDA only (as in training).

Three implementations of the same function are compared in one run (tests check they agree to
float32 rounding): ``reference`` (the original operation sequence), ``fast`` (the default:
channels-last activations, fused LayerNorm, no unused pools, LoRE queries projected once,
Gaussian weight maps as matrix products) and ``fast+ckpt`` (activation checkpointing). The
last lines print the speed-up and memory ratios against ``reference``. ``--profile`` prints
torch.profiler's per-operator table of one train step of each implementation.

Each train row also counts the floating-point work of one step (``FlopCounterMode``, with CPU
flash attention counted by PyTorch's own SDPA formulas) and, in the same process, the rate of a
large float32 matrix product on the same threads: ``gflops_per_second / gemm_gflops_per_second``
is how close the step runs to what this machine's BLAS reaches. A step already near 100 % cannot
be made 2× faster without doing less arithmetic (another geometry or precision), which changes
the numerics.

Usage::

    python benchmarks/bench_rasalore.py                                  # cpu-small and paper, batch 16
    python benchmarks/bench_rasalore.py --preset cpu-small --batch 16 --profile
    python benchmarks/bench_rasalore.py --device cuda                    # AMP (bf16) on CUDA
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import torch
from _timing import time_call
from wsad_rasalore._augment import PaperAugment, augment_batch
from wsad_rasalore._data import Batch
from wsad_rasalore._training import StagePlan, batch_loss
from wsad_rasalore.config import RasaloreOptions
from wsad_rasalore.lore import lore_embedding
from wsad_rasalore.torch_model import RasaloreNet, parameter_counts

from wsad_core.device import autocast

IMPLEMENTATIONS = {
    "reference": {"implementation": "reference"},
    "fast": {"implementation": "fast"},
    "fast+ckpt": {"implementation": "fast", "activation_checkpointing": True},
}


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


def run_single(
    preset: str, batch_size: int, device_name: str, variant: str, repeats: int, mode: str, profile: bool = False
) -> dict:
    """One configuration in this process: ``mode`` is 'train', 'infer' or 'augment'."""
    options = RasaloreOptions(preset=preset, **IMPLEMENTATIONS[variant])
    geometry = options.geometry()
    device = torch.device(device_name)
    amp = device.type == "cuda"
    torch.manual_seed(0)
    net = RasaloreNet(geometry, {"t2": lore_embedding(geometry.num_points, geometry.embed_dim, 0)})
    net.configure(reference=options.implementation == "reference", checkpointing=options.activation_checkpointing)
    net = net.to(device)
    batch = _batch(options, batch_size)
    plan = StagePlan(("t2",), None, 0, 1, "bench")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    augment = PaperAugment()
    generator = torch.Generator().manual_seed(0)
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
        with torch.inference_mode(), autocast(device.type, amp):
            torch.sigmoid(net(batch.images.to(device)).logits.float())

    def augment_step() -> None:
        masks = [batch.ddpt[:, None, ::2, ::2], batch.ddpt[:, None]]
        if batch.sam is not None:
            masks.append(batch.sam[:, None])
        augment_batch(batch.images, masks, generator, augment)

    step = {"train": train_step, "infer": infer, "augment": augment_step}[mode]
    seconds = time_call(step, repeats, device)
    flops = _count_flops(train_step) if mode == "train" else None
    table = None
    if profile and mode == "train":
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as profiler:
            train_step()
        table = profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
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
        "implementation": variant,
        "batch": batch_size,
        "mode": mode,
        "seconds_per_batch": seconds,
        "ms_per_slice": 1000 * seconds / batch_size,
        "peak_gib": peak,
        "peak_kind": "cuda max_memory_allocated" if device.type == "cuda" else "process peak RSS",
        "profile": table,
        "flops_per_step": flops,
        "gflops_per_second": None if flops is None else flops / seconds / 1e9,
        "gemm_gflops_per_second": _gemm_rate(device) if mode == "train" else None,
    }


def _count_flops(step: Callable[[], None]) -> int:
    """Floating-point operations of one call of ``step`` (forward, backward, optimiser)."""
    from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten

    def forward(query: Any, key: Any, value: Any, *args: Any, out_val: Any = None, **kwargs: Any) -> int:
        return sdpa_flop_count(query, key, value)

    def backward(grad_out: Any, query: Any, key: Any, value: Any, *args: Any, out_val: Any = None, **kw: Any) -> int:
        return sdpa_backward_flop_count(grad_out, query, key, value)

    # The counter hands these shapes, not tensors. PyTorch registers the CUDA attention kernels only;
    # the CPU flash kernel does the same work.
    mapping = {
        aten._scaled_dot_product_flash_attention_for_cpu: forward,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: backward,
    }
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        step()
    return int(counter.get_total_flops())


def _gemm_rate(device: torch.device, side: int = 2048) -> float:
    """GFLOP/s of a float32 ``side``³ matrix product here: the arithmetic rate this machine's BLAS reaches."""
    a = torch.randn(side, side, device=device)
    b = torch.randn(side, side, device=device)
    seconds = time_call(lambda: a @ b, 5, device)
    return 2 * side**3 / seconds / 1e9


def _subprocess_row(args: argparse.Namespace, preset: str, batch: int, variant: str, mode: str) -> dict:
    command = [
        sys.executable,
        __file__,
        "--device",
        args.device,
        "--threads",
        str(args.threads),
        "--repeats",
        str(args.repeats),
        "--single",
        f"{preset},{batch},{variant},{mode}",
    ]
    if args.profile:
        command.append("--profile")
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", action="append", choices=["paper", "cpu-small"], help="repeatable (default: cpu-small and paper)"
    )
    parser.add_argument("--batch", type=int, action="append", help="batch size, repeatable (default 16)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--variant", action="append", choices=list(IMPLEMENTATIONS), help="repeatable (default: all three)"
    )
    parser.add_argument("--profile", action="store_true", help="print the per-operator table of one train step")
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.single:
        preset, batch, variant, mode = args.single.split(",")
        print(json.dumps(run_single(preset, int(batch), args.device, variant, args.repeats, mode, args.profile)))
        return
    rows = []
    variants = args.variant or list(IMPLEMENTATIONS)
    for preset in args.preset or ["cpu-small", "paper"]:
        for batch in args.batch or [16]:
            for variant in variants:
                for mode in ("train", "infer", "augment"):
                    if mode == "augment" and variant != variants[0]:
                        continue  # the augmentation does not depend on the network
                    row = _subprocess_row(args, preset, batch, variant, mode)
                    rows.append(row)
                    print(
                        f"{preset:9s} {row['device']:6s} threads {row['threads']} {variant:10s} B={batch:<3d} "
                        f"{mode:7s} {row['seconds_per_batch']:8.3f} s/batch {row['ms_per_slice']:8.1f} ms/slice "
                        f"peak {row['peak_gib']:5.2f} GiB ({row['peak_kind']})",
                        flush=True,
                    )
                    if row["profile"]:
                        print(row["profile"], flush=True)
            _print_ratios(rows, preset, batch)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


def _print_ratios(rows: list[dict], preset: str, batch: int) -> None:
    by = {(r["implementation"], r["mode"]): r for r in rows if r["preset"] == preset and r["batch"] == batch}
    base = by.get(("reference", "train"))
    if base is None:
        return
    print(f"{preset} B={batch}: {base['parameters']:,} parameters ({base['geometry']})")
    for variant in ("fast", "fast+ckpt"):
        train, infer = by.get((variant, "train")), by.get((variant, "infer"))
        if train is None or infer is None:
            continue
        print(
            f"  {variant:10s} train step {base['seconds_per_batch'] / train['seconds_per_batch']:.2f}x faster, "
            f"inference {by[('reference', 'infer')]['seconds_per_batch'] / infer['seconds_per_batch']:.2f}x faster, "
            f"training peak {train['peak_gib']:.2f} GiB vs {base['peak_gib']:.2f} GiB "
            f"({train['peak_gib'] / base['peak_gib']:.2f}x)",
            flush=True,
        )
    for variant in ("reference", "fast", "fast+ckpt"):
        train = by.get((variant, "train"))
        if train is None or not train.get("flops_per_step"):
            continue
        share = train["gflops_per_second"] / train["gemm_gflops_per_second"]
        print(
            f"  {variant:10s} {train['flops_per_step'] / 1e9:.1f} GFLOP per train step at "
            f"{train['gflops_per_second']:.0f} GFLOP/s = {share:.0%}"
            f" of a {train['gemm_gflops_per_second']:.0f} GFLOP/s float32 matrix product on the same threads",
            flush=True,
        )
    augment = by.get(("reference", "augment"))
    if augment is not None:
        share = (
            augment["seconds_per_batch"] / (augment["seconds_per_batch"] + by[("fast", "train")]["seconds_per_batch"])
            if ("fast", "train") in by
            else float("nan")
        )
        print(f"  augmentation {augment['seconds_per_batch'] * 1000:.1f} ms/batch ({share:.0%} of a fast step)")


if __name__ == "__main__":
    main()
