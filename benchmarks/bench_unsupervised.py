"""Training and inference cost per slice of the unsupervised segmenters and SADM, published vs CPU size.

For each method and size (``published``: the options' defaults; ``cpu``: the options ``--scale cpu`` uses,
from :mod:`wsad_core.bench.presets`):

* **train ms/slice**: one optimisation step (the method's own batch builder and loss, backward, Adam) on
  synthetic healthy slices, divided by the slices in the step (Patch2Loc: by ``slices_per_batch``, its patches
  drawn from them);
* **infer ms/slice**: the segmenter's own ``predict`` on ``--slices`` synthetic 240² slices (resizing, test noise,
  every grid box or patch, post-processing), with untrained weights (cost does not depend on them), after a
  warm-up call on one slice.

``cddpm``'s train step is the DDPM phase's (its encoder's masked pretraining runs once before). SADM is two
stages: its rows time stage II (one Siamese U-Net step on random inputs; ``predict`` with an identity stage I,
so the U-Net, the SSIM map and the median filter) and add the ``cddpm`` row of the same size for the total,
since stage I is a ``cddpm`` that SADM trains first and runs on every test slice.

Median of ``--repeats`` after a warm-up; ``--sizes cpu`` alone skips the slow published sizes. Usage::

    python benchmarks/bench_unsupervised.py [--sizes published,cpu] [--methods ddpm,cddpm,sadm_res,patch2loc]
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


class _Identity:
    """A stage I that returns its input: SADM's own inference cost, without its reconstruction stage."""

    def reconstruct_slices(self, slices: SliceSet) -> np.ndarray:
        return slices.images.astype(np.float32)


def measure_sadm(method: str, size: str, slices: int, repeats: int, stage1: dict | None) -> dict:
    host = PluginHost()
    options = dict(_CPU_OPTIONS.get(method, {})) if size == "cpu" else {}
    context = BuildContext(device="cpu", seed=0, work_dir=Path(tempfile.mkdtemp()))
    segmenter = host.create("segmenter", method, options, context)
    validated = segmenter.options
    model = segmenter._build(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=validated.learning_rate)
    side, count = validated.image_size, validated.batch_size
    generator = torch.Generator().manual_seed(0)
    batch = (
        torch.rand(count, 1, side, side, generator=generator),
        torch.rand(count, 1, side, side, generator=generator),
        (torch.rand(count, 1, side, side, generator=generator) > 0.9).float(),
    )

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        segmenter.loss(model, batch).backward()
        optimizer.step()

    train_seconds = time_call(step, repeats)
    segmenter.model, segmenter.stage1, segmenter._modalities = model, _Identity(), ("t2",)
    test = _slices(slices)
    segmenter.predict(_slices(1))
    start = time.perf_counter()
    segmenter.predict(test)
    infer_seconds = time.perf_counter() - start
    row = {
        "method": method,
        "size": size,
        "options": options,
        "parameters": sum(p.numel() for p in model.parameters()),
        "image_size": side,
        "train_batch_slices": count,
        "stage2_train_ms_per_slice": 1000 * train_seconds / count,
        "stage2_infer_ms_per_slice": 1000 * infer_seconds / slices,
        "threads": torch.get_num_threads(),
    }
    if stage1 is not None:  # stage I (cddpm) trains first and reconstructs every test slice
        row["train_ms_per_slice"] = stage1["train_ms_per_slice"] + row["stage2_train_ms_per_slice"]
        row["infer_ms_per_slice"] = stage1["infer_ms_per_slice"] + row["stage2_infer_ms_per_slice"]
        row["stage1"] = f"cddpm ({stage1['parameters']:,} parameters)"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="ddpm,pddpm,mddpm,cddpm,sadm_res,patch2loc")
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
            if method.startswith("sadm"):
                stage1 = next((r for r in rows if (r["method"], r["size"]) == ("cddpm", size)), None)
                row = measure_sadm(method, size, args.slices, args.repeats, stage1)
            else:
                row = measure(method, size, args.slices, args.repeats)
            rows.append(row)
            total = "train_ms_per_slice" in row
            train = row["train_ms_per_slice"] if total else row["stage2_train_ms_per_slice"]
            infer = row["infer_ms_per_slice"] if total else row["stage2_infer_ms_per_slice"]
            print(
                f"{method:10s} {size:9s} {row['parameters']:>11,} params at {row['image_size']}²: train "
                f"{train:8.1f} ms/slice (batch {row['train_batch_slices']}), infer {infer:8.1f} ms/slice"
                + ("" if total else " (stage II only: list cddpm first for the total)"),
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
