"""Seeded minibatch index lists for the training loop's ``batches(epoch, generator)``."""

from __future__ import annotations

import torch

from wsad_core.errors import ConfigError

__all__ = ["minibatch_indices"]


def minibatch_indices(
    n: int, batch_size: int, generator: torch.Generator, *, shuffle: bool = True, drop_last: bool = False
) -> list[torch.Tensor]:
    """Split ``range(n)`` into minibatches of positions, shuffled with ``generator``.

    Args:
        n: number of samples.
        batch_size: samples per batch; the last batch may be smaller.
        generator: source of the permutation (the epoch's generator in :func:`train`).
        shuffle: permute before splitting; ``False`` keeps ``0..n-1`` in order and draws
            nothing from ``generator``.
        drop_last: drop a final batch smaller than ``batch_size``.

    Returns:
        One int64 CPU tensor of positions per batch (empty list when ``n == 0``).

    Raises:
        ConfigError: ``n`` is negative or ``batch_size`` is below 1.
    """
    if n < 0:
        raise ConfigError(f"minibatch_indices: n must be >= 0, got {n}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}", hint="set batch_size >= 1")
    order = torch.randperm(n, generator=generator, device=generator.device).cpu() if shuffle else torch.arange(n)
    parts = [part for part in torch.split(order, batch_size) if part.numel()]
    if drop_last and parts and len(parts[-1]) < batch_size:
        parts.pop()
    return parts
