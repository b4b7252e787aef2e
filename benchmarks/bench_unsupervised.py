"""Training and inference cost per slice of ``ddpm``, ``pddpm``, ``mddpm`` and ``patch2loc``, published vs CPU size.

For each method and size (``published``: the options' defaults; ``cpu``: the options ``--scale cpu`` uses,
from :mod:`wsad_core.bench.presets`):

* **train ms/slice**: one optimisation step (the method's own batch builder and loss, backward, Adam) on
  synthetic healthy slices, divided by the slices in the step (Patch2Loc: by ``slices_per_batch``, its patches
  drawn from them);
* **infer ms/slice**: the segmenter's own ``predict`` on ``--slices`` synthetic 240² slices (resizing, test noise,
  every grid box or patch, post-processing), with untrained weights (cost does not depend on them), after a
  warm-up call on one slice.

Median of ``--repeats`` after a warm-up; ``--sizes cpu`` alone skips the slow published sizes. Usage::

    python benchmarks/bench_unsupervised.py [--sizes published,cpu] [--methods ddpm,pddpm,mddpm,patch2loc]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _timing import time_call

from wsad_core import BuildContext, Label, SliceSet
from wsad_core.bench.presets import _CPU_OPTIONS
from wsad_core.plugins import PluginHost
from wsad_core.reconstruction import HealthySlices


def _slices(n: int, size: int = 240) -> SliceSet:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    brain = ((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.36) ** 2 <= 1
    images = (0.45 + rng.normal(0, 0.05, (n, 1, size, size))).clip(0, 1).astype(np.float32) * brain
    return SliceSet(
        images=images,
        brain_masks=np.repeat(brain[None], n, axis=0),
        labels=np.full(n, Label.HEALTHY, np.int8),
        case_ids=tuple(f"v{i // 16}" for i in range(n)),
        slice_indices=np.arange(n, dtype=np.int32) % 16,
        modalities=("t2",),
    )


def measure(method: str, size: str, slices: int, repeats: int) -> dict:
    host = PluginHost()
    options = dict(_CPU_OPTIONS.get(method, {})) if size == "cpu" else {}
    context = BuildContext(device="cpu", seed=0, work_dir=Path(tempfile.mkdtemp()))
    segmenter = host.create("segmenter", method, options, context)
    validated = segmenter.options
    batch_slices = getattr(validated, "slices_per_batch", None) or validated.batch_size
    train_set = _slices(max(batch_slices, 8))
    model = segmenter.build_model(1)
    optimizer, _ = segmenter.configure(model)
    data = HealthySlices.select(train_set, validated.image_size, torch.device("cpu"), method=method, what="training")
    generator = torch.Generator().manual_seed(0)
    batches = iter(segmenter.epoch_batches(data, 0, generator))

    def step() -> None:
        nonlocal batches
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(segmenter.epoch_batches(data, 0, generator))
            batch = next(batches)
        optimizer.zero_grad(set_to_none=True)
        segmenter.loss(model, batch).backward()
        optimizer.step()

    train_seconds = time_call(step, repeats)
    segmenter.model, segmenter._modalities = model, ("t2",)
    test = _slices(slices)
    segmenter.predict(_slices(1))  # warm-up: one-time costs (numba compilation of the noise, oneDNN primitives)
    start = time.perf_counter()
    segmenter.predict(test)
    infer_seconds = time.perf_counter() - start
    return {
        "method": method,
        "size": size,
        "options": options,
        "parameters": sum(p.numel() for p in model.parameters()),
        "image_size": validated.image_size,
        "train_batch_slices": batch_slices,
        "train_ms_per_slice": 1000 * train_seconds / batch_slices,
        "infer_ms_per_slice": 1000 * infer_seconds / slices,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="ddpm,pddpm,mddpm,patch2loc")
    parser.add_argument("--sizes", default="published,cpu")
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for size in args.sizes.split(","):
        for method in args.methods.split(","):
            row = measure(method, size, args.slices, args.repeats)
            rows.append(row)
            print(
                f"{method:10s} {size:9s} {row['parameters']:>11,} params at {row['image_size']}²: train "
                f"{row['train_ms_per_slice']:8.1f} ms/slice (batch {row['train_batch_slices']}), infer "
                f"{row['infer_ms_per_slice']:8.1f} ms/slice",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
