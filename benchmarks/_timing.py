"""One way to time a call in the benchmarks: a warm-up, then ``repeats`` timed calls reduced by a statistic."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch

__all__ = ["time_call"]


def time_call(
    fn: Callable[[], object],
    repeats: int,
    device: torch.device | None = None,
    statistic: Callable[[Sequence[float]], float] = statistics.median,
) -> float:
    """Seconds per call: one warm-up call (oneDNN primitive creation, CUDA kernels), then ``statistic`` of ``repeats``.

    On CUDA the device is synchronised around each timed call.
    """
    cuda = device is not None and device.type == "cuda"
    fn()
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistic(times)
