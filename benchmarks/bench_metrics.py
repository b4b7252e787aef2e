"""Per-slice AUROC/AP: scikit-learn loops vs. wsad's vectorised torch metrics, on the same data.

Synthetic but realistic anomaly maps: an elliptic brain, one smooth lesion per slice
(250-8000 px), and a sigmoid of a smoothed noisy logit map (float32). Times, per slice:

* sklearn ``roc_auc_score`` + ``average_precision_score``, one call pair per slice;
* ``ranking_metrics`` (all slices at once) and ``ranking_metrics`` + ``confusion_counts``
  + ``count_metrics`` at 0.5;
* the pure-torch kernel (the CUDA path) on the same device, for information.

Checks that every AUROC/AP agrees with sklearn to 1e-6 and prints the speed-up.
Target (issue, section 3): at least 10x. Usage::

    python benchmarks/bench_metrics.py [--slices 256] [--size 240] [--region slice|brain] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy import ndimage
from sklearn.metrics import average_precision_score, roc_auc_score

from wsad_core.metrics import confusion_counts, count_metrics, ranking_metrics
from wsad_core.metrics._rank_kernels import rank_chunk_torch


def make_data(slices: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    brain = ((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.35) ** 2 <= 1.0
    masks = np.zeros((slices, size, size), dtype=bool)
    scores = np.zeros((slices, size, size), dtype=np.float32)
    for i in range(slices):
        radius = rng.uniform(9, 50) / size
        cy, cx = rng.uniform(0.3, 0.7, size=2)
        blob = ((yy - cy) / radius) ** 2 + ((xx - cx) / (radius * rng.uniform(0.7, 1.3))) ** 2
        masks[i] = (blob <= 1.0) & brain
        logit = np.where(masks[i], 2.0, -4.0) + rng.normal(0, 2.5, (size, size))
        logit = ndimage.gaussian_filter(logit, 2.0) * 2.0
        scores[i] = np.where(brain, 1 / (1 + np.exp(-logit)), 0.0)
    return scores, masks, np.broadcast_to(brain, masks.shape).copy()


def best_of(repeats: int, fn: Callable[[], None]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=256)
    parser.add_argument("--size", type=int, default=240)
    parser.add_argument("--region", choices=["slice", "brain"], default="slice")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    scores_np, masks_np, brain_np = make_data(args.slices, args.size, args.seed)
    n, pixels = args.slices, args.size * args.size
    device = torch.device(args.device)
    scores = torch.from_numpy(scores_np.reshape(n, pixels)).to(device)
    targets = torch.from_numpy(masks_np.reshape(n, pixels)).to(device)
    valid = torch.from_numpy(brain_np.reshape(n, pixels)).to(device) if args.region == "brain" else None
    lesion = masks_np.reshape(n, -1).sum(1)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}), torch threads: {torch.get_num_threads()}, torch {torch.__version__}")
    print(
        f"data: {n} slices of {args.size}x{args.size}, region={args.region}, "
        f"lesion px per slice {lesion.min()}-{lesion.max()} (median {int(np.median(lesion))})"
    )

    # scikit-learn, one call pair per slice (the reference and the baseline).
    sk_auroc, sk_ap = np.empty(n), np.empty(n)
    start = time.perf_counter()
    for i in range(n):
        keep = slice(None) if valid is None else brain_np[i].ravel()
        y, s = masks_np[i].ravel()[keep], scores_np[i].ravel()[keep]
        sk_auroc[i] = roc_auc_score(y, s)
        sk_ap[i] = average_precision_score(y, s)
    sk_time = time.perf_counter() - start

    def ours() -> None:
        ranking_metrics(scores, targets, valid)

    def ours_with_counts() -> None:
        ranking_metrics(scores, targets, valid)
        count_metrics(confusion_counts(scores, targets, 0.5, valid))

    def torch_kernel() -> None:
        for start in range(0, n, 64):
            part = slice(start, start + 64)
            rank_chunk_torch(scores[part], targets[part], None if valid is None else valid[part])

    ours()  # warm-up
    auroc, ap = ranking_metrics(scores, targets, valid)
    error = max(np.abs(auroc.cpu().numpy() - sk_auroc).max(), np.abs(ap.cpu().numpy() - sk_ap).max())
    t_rank = best_of(args.repeats, ours)
    t_counts = best_of(args.repeats, ours_with_counts)
    t_kernel = best_of(args.repeats, torch_kernel)

    per = 1000.0 / n
    print(f"sklearn per-slice loop        : {sk_time * per:8.3f} ms/slice")
    print(f"wsad ranking_metrics          : {t_rank * per:8.3f} ms/slice   speed-up {sk_time / t_rank:6.1f}x")
    print(f"wsad ranking + counts         : {t_counts * per:8.3f} ms/slice   speed-up {sk_time / t_counts:6.1f}x")
    print(f"pure-torch kernel (CUDA path) : {t_kernel * per:8.3f} ms/slice   speed-up {sk_time / t_kernel:6.1f}x")
    print(f"max |wsad - sklearn| over AUROC and AP: {error:.2e} ({'OK' if error <= 1e-6 else 'FAIL'} at 1e-6)")
    target = sk_time / t_counts >= 10
    print(f"target >= 10x (ranking + counts): {'met' if target else 'NOT met'}")
    if error > 1e-6:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
