"""Training and inference cost of the published baselines ``ame-cam``, ``ae`` and ``dae``, per slice.

Published architectures (the options' defaults unless ``--width``/``--channels`` shrink them)
on synthetic 256² slices. Per method:

* **train ms/slice**: one optimisation step (forward, backward, optimizer) on a batch at the
  method's input size, divided by the batch size — for AME-CAM each stage separately (stage 0
  counts both SimCLR views);
* **infer ms/slice**: the role object's own ``generate``/``predict`` on ``--slices`` slices of
  256² (resizing, every CAM/attention pass, residual post-processing incl. the AE's 3-D median),
  with untrained weights (cost does not depend on them).

Best of ``--repeats`` after one warm-up. Usage::

    python benchmarks/bench_baselines.py [--device cpu|cuda] [--batch 8] [--slices 32] [--methods ame-cam,ae,dae]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _timing import time_call
from wsad_baselines._amecam_losses import aggregation_loss, multi_exit_bce, nt_xent
from wsad_baselines._amecam_train import network_input
from wsad_baselines.ae import AESegmenter
from wsad_baselines.amecam import AmeCamGenerator
from wsad_baselines.config_amecam import AmeCamOptions
from wsad_baselines.config_recon import AEOptions, DAEOptions
from wsad_baselines.dae import DAESegmenter
from wsad_baselines.torch_amecam import AttentionAggregator, MultiExitClassifier, SimCLRModel

from wsad_core import BuildContext, SliceSet
from wsad_core.reconstruction.data import HealthySlices


def synthetic_slices(n: int, size: int, seed: int = 0) -> SliceSet:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    brain = ((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.36) ** 2 <= 1
    images = (rng.uniform(0.3, 0.6, (n, 1, size, size)) * brain).astype(np.float32)
    return SliceSet(
        images=images,
        brain_masks=np.repeat(brain[None], n, axis=0),
        labels=np.full(n, -1, np.int8),
        case_ids=tuple(f"v{i // 16}" for i in range(n)),
        slice_indices=np.arange(n, dtype=np.int32) % 16,
        modalities=("flair",),
    )


def best_of(repeats: int, fn: Callable[[], None], device: torch.device) -> float:
    return time_call(fn, repeats, device, statistic=min)


def step_timer(model: torch.nn.Module, loss: Callable[[], torch.Tensor]) -> Callable[[], None]:
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        optimizer.step()

    return step


def bench_amecam(args: argparse.Namespace, device: torch.device, context: BuildContext) -> list[dict]:
    options = AmeCamOptions(width=args.width)
    size = options.image_size or args.size
    x = network_input(synthetic_slices(args.batch, args.size).images, size, device)
    labels = torch.randint(0, 2, (args.batch,), device=device).float()
    simclr = SimCLRModel(3, options.width).to(device)
    classifier = MultiExitClassifier(3, options.width).to(device)
    aggregator = AttentionAggregator().to(device)
    rows = []
    for stage, model, loss in (
        ("stage 0 SimCLR (2 views)", simclr, lambda: nt_xent(simclr(x), simclr(x.flip(-1)), 0.07)),
        ("stage 1 classifier", classifier, lambda: multi_exit_bce(classifier(x)[0], labels, options.exit_weights)),
    ):
        seconds = best_of(args.repeats, step_timer(model, loss), device)
        rows.append({"method": "ame-cam", "what": f"train {stage}", "ms_per_slice": 1000 * seconds / args.batch})
    classifier.requires_grad_(False)

    def aggregation() -> torch.Tensor:
        with torch.no_grad():
            _, cams = classifier.upsampled_cams(x)
        grey = x.mean(dim=1, keepdim=True)
        return aggregation_loss(grey, aggregator(grey, cams), 0.25)

    seconds = best_of(args.repeats, step_timer(aggregator, aggregation), device)
    rows.append({"method": "ame-cam", "what": "train stage 2 aggregation", "ms_per_slice": 1000 * seconds / args.batch})
    generator = AmeCamGenerator(options, context)
    generator.classifier, generator.aggregator = classifier.eval(), aggregator.eval()
    generator.polarity, generator._modalities = "inverted", ("flair",)
    test = synthetic_slices(args.slices, args.size, 1)
    seconds = best_of(args.repeats, lambda: generator.generate(test), device)
    rows.append({"method": "ame-cam", "what": "infer generate", "ms_per_slice": 1000 * seconds / args.slices})
    return rows


def bench_recon(args: argparse.Namespace, name: str, device: torch.device, context: BuildContext) -> list[dict]:
    if name == "ae":
        segmenter = AESegmenter(AEOptions(), context)
    else:
        channels = tuple(int(c) for c in args.channels.split(",")) if args.channels else DAEOptions().channels
        segmenter = DAESegmenter(DAEOptions(channels=channels), context)
    model = segmenter.build_model(1).to(device)
    train = synthetic_slices(args.batch, args.size)
    data = HealthySlices(train, np.arange(args.batch), segmenter.options.image_size, device)
    batch = data.batch(np.arange(args.batch))
    if name == "dae":
        generator = torch.Generator().manual_seed(0)

        def loss() -> torch.Tensor:
            return segmenter.loss(model, segmenter._noisy(batch, generator))
    else:

        def loss() -> torch.Tensor:
            return segmenter.loss(model, batch)

    model.train()
    seconds = best_of(args.repeats, step_timer(model, loss), device)
    rows = [{"method": name, "what": "train step", "ms_per_slice": 1000 * seconds / args.batch}]
    segmenter.model, segmenter._modalities = model.eval(), ("flair",)
    test = synthetic_slices(args.slices, args.size, 1)
    seconds = best_of(args.repeats, lambda: segmenter.predict(test), device)
    rows.append({"method": name, "what": "infer predict", "ms_per_slice": 1000 * seconds / args.slices})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--methods", default="ame-cam,ae,dae")
    parser.add_argument(
        "--batch", type=int, default=8, help="training batch (published: 512/256 AME-CAM, 128 AE, 16 DAE)"
    )
    parser.add_argument("--slices", type=int, default=32, help="slices per inference call")
    parser.add_argument("--size", type=int, default=256, help="slice size given to the methods")
    parser.add_argument("--width", type=int, default=64, help="AME-CAM ResNet width (published 64)")
    parser.add_argument("--channels", default="", help="DAE widths, e.g. 8,16,32,64 (published 64,128,256,512)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as work:
        context = BuildContext(device=args.device, work_dir=Path(work))
        rows: list[dict] = []
        for name in args.methods.split(","):
            rows += (
                bench_amecam(args, device, context) if name == "ame-cam" else bench_recon(args, name, device, context)
            )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load:.2f}")
    print(f"training batch {args.batch}, inference {args.slices} slices of {args.size}², best of {args.repeats}")
    print(f"{'method':8} {'what':32} {'ms/slice':>10}")
    for row in rows:
        print(f"{row['method']:8} {row['what']:32} {row['ms_per_slice']:10.1f}")
    if args.json:
        args.json.write_text(json.dumps({"device": str(device), "load": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
