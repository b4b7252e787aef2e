"""DDPT cost: prompt-tuning step time and peak memory, pseudo-mask inference, parameter counts.

Builds the ``ddpt`` generator at the published size (open_clip ViT-B/32, 224 px) with a *random*
CLIP (speed and memory do not depend on the weights; no weights are needed) and measures, on
synthetic 256 x 256 slices:

* one training step (augmentation + forward + backward + SGD) for a batch of ``--batch`` (16):
  during the general-knowledge epochs (with the frozen zero-shot image pass) and after them;
* peak memory of that step: CUDA ``max_memory_allocated``, or on CPU the growth of the process's
  peak resident set over the step (and the absolute peak);
* pseudo-mask inference in ms per slice, batched (``predict_batch_size``) and one slice at a time
  (what the official code does);
* trainable prompt parameters vs the frozen backbone.

Usage::

    python benchmarks/bench_ddpt.py [--device cpu|cuda] [--batch 16] [--slices 32] [--repeats 3] [--amp]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from wsad_ddpt._data import LabelledSlices, augment, grey
from wsad_ddpt._objective import build_optimizer, ddpt_loss
from wsad_ddpt.config import DDPTOptions
from wsad_ddpt.generator import DDPTGenerator

from wsad_core import BuildContext
from wsad_core.testing import toy_batch


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def best_of(repeats: int, fn: Callable[[], object], device: str) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def _current_rss_mib() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux
        return float("nan")


def _peak_rss_mib() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default="ViT-B-32", help="open_clip model (default: the paper's ViT-B/32)")
    parser.add_argument("--batch", type=int, default=16, help="training batch size to time")
    parser.add_argument("--slices", type=int, default=32, help="slices for the inference timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only, like wsad runs)")
    args = parser.parse_args()
    device = args.device
    amp = bool(args.amp and device.startswith("cuda"))

    print(f"device: {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.startswith("cuda") else ""))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpu_count {os.cpu_count()}, amp {amp}")
    if hasattr(os, "getloadavg"):
        print(f"load average at start: {os.getloadavg()[0]:.2f} (other processes share this machine)")
    options = DDPTOptions(model=args.model, pretrained=None, allow_random_init=True, predict_batch_size=32)
    with tempfile.TemporaryDirectory() as work:
        context = BuildContext(work_dir=Path(work), device=device, amp=amp)
        generator = DDPTGenerator(options, context)
        net = generator.network
        trainable = sum(p.numel() for p in net.prompts.parameters())
        frozen = sum(p.numel() for p in net.clip.parameters())
        print(f"model {args.model} ({generator.image_size} px, grid {net.grid}), random-init CLIP (timing only)")
        print(f"trainable prompt parameters: {trainable:,}; frozen CLIP parameters: {frozen:,}")
        print(f"  trainable / frozen = {trainable / frozen:.4%}")

        data = toy_batch(n_train=max(2 * args.batch, 8), n_test=args.slices, size=256, seed=0)
        labelled = LabelledSlices.select(data.train, fraction=1.0, shots=10_000, seed=0)
        index, labels = labelled.index[: args.batch], torch.from_numpy(labelled.labels[: args.batch])
        optimizer, _ = build_optimizer(net, options)
        rng = torch.Generator().manual_seed(0)

        def step(epoch: int) -> None:
            images = augment(grey(data.train, index, 0, True), generator.image_size, (0.08, 1.0), 0.5, rng)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                loss = ddpt_loss(net, images.to(device), labels.to(device), epoch=epoch, options=options)
            loss.backward()
            optimizer.step()

        resident = _current_rss_mib()  # model loaded, nothing trained yet
        for epoch, label in ((0, "general-knowledge epochs (< C)"), (options.general_knowledge_epochs, "later epochs")):
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats(device)
            step(epoch)  # warm-up (its memory peak counts)
            seconds = best_of(args.repeats, lambda e=epoch: step(e), device)
            if device.startswith("cuda"):
                memory = f"peak CUDA memory {torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB"
            else:
                peak = _peak_rss_mib()
                memory = f"peak RSS {peak:,.0f} MiB ({peak - resident:,.0f} MiB above the loaded model)"
            print(
                f"train step, batch {args.batch}, {label}: {seconds:.3f} s "
                f"({1000 * seconds / args.batch:.1f} ms/image); {memory}"
            )

        generator._fitted = True  # the prompts' values do not change the cost
        test = data.test
        batched = best_of(args.repeats, lambda: generator.generate(test), device)
        single_slices = test.select(np.arange(min(8, len(test))))
        generator.options = options.model_copy(update={"predict_batch_size": 1})
        single = best_of(args.repeats, lambda: generator.generate(single_slices), device)
        print(
            f"pseudo-mask inference: {1000 * batched / len(test):.1f} ms/slice in batches of 32 "
            f"({len(test)} slices of 256 x 256); {1000 * single / len(single_slices):.1f} ms/slice one at a time"
        )


if __name__ == "__main__":
    main()
