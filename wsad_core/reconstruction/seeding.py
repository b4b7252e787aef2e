"""Seeded random streams that depend on the run's seed only, not on what ran before."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

from wsad_core import BuildContext
from wsad_core.training import derive_seed

__all__ = ["seeded_global_rng", "seeded_init"]

Model = TypeVar("Model", bound=torch.nn.Module)


@contextlib.contextmanager
def seeded_global_rng(context: BuildContext, stream: int) -> Iterator[None]:
    """Fork the global torch RNGs (CPU and the run's GPU) and seed them from ``(seed, stream)``.

    Dropout and other layers draw from the global streams; forking makes two fits with the
    same seed identical inside one process, and restores the caller's streams afterwards.
    The core training loop snapshots these streams into each checkpoint, so resuming
    stays bit-identical on CPU.
    """
    device = context.torch_device()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(derive_seed(context.seed, stream))
        yield


def seeded_init(context: BuildContext, stream: int, build: Callable[[], Model]) -> Model:
    """``build()`` under a private CPU stream seeded from ``(seed, stream)``, moved to the run's device."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(context.seed, stream))
        model = build()
    return model.to(context.torch_device())
