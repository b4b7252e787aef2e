"""Device choice, mixed precision and seeding.

Mixed precision is used only on CUDA: bf16 autocast on CPUs without native bf16
(like the CI machines) makes training about 20 times slower.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np

from wsad_core.errors import ConfigError

__all__ = ["autocast", "resolve_device", "seed_everything"]


def resolve_device(requested: str = "auto") -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is visible, else ``"cpu"``; other values are checked.

    Raises:
        ConfigError: CUDA was requested but is not available, or the name is unknown.
    """
    import torch

    requested = requested.strip().lower()
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return "cpu"
    if requested == "cuda" or requested.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {requested!r} requested but CUDA is not available", hint="use --device cpu or --device auto"
            )
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device {requested!r} requested but only {torch.cuda.device_count()} GPU(s) are visible")
        return requested
    raise ConfigError(f"unknown device {requested!r}", hint="use auto, cpu, cuda or cuda:N")


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed python, numpy and torch; with ``deterministic`` also force deterministic kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


@contextlib.contextmanager
def autocast(device: str, enabled: bool = True) -> Iterator[None]:
    """bf16 autocast on CUDA when ``enabled``; a no-op on CPU."""
    import torch

    if enabled and device.startswith("cuda"):
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
