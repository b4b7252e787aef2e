"""Random streams of the training loop: per-epoch generators and global RNG snapshots.

Every epoch draws its shuffling and augmentation from its own ``torch.Generator``
seeded from ``(seed, epoch)``, so epoch ``e`` sees the same batches whether the run
started at epoch 0 or was resumed at ``e``. Randomness drawn from the global streams
(dropout, plugin code using ``random`` or ``numpy.random``) is made resumable by
snapshotting those streams into each checkpoint as plain data.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["capture_rng_state", "derive_seed", "epoch_generator", "restore_rng_state"]

_MASK_63 = (1 << 63) - 1


def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed mixed from ``seed`` and ``keys`` with numpy's ``SeedSequence``.

    Args:
        seed: the run's seed (any integer, negative ones included).
        *keys: further non-negative integers (epoch, stream number, ...).

    Returns:
        A seed usable by ``torch.Generator.manual_seed``; equal inputs give equal seeds
        on every platform.
    """
    entropy = [seed & ((1 << 64) - 1), *keys]
    state = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)
    return int(state[0]) & _MASK_63


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator that drives shuffling and augmentation of ``epoch``."""
    return torch.Generator().manual_seed(derive_seed(seed, epoch))


def capture_rng_state() -> dict[str, Any]:
    """The global torch (CPU and CUDA), python and numpy RNG states, loadable with ``weights_only``."""
    version, internal, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [int(version), [int(k) for k in internal], gauss],
        "numpy": [str(name), keys.astype(np.int64).tolist(), int(position), int(has_gauss), float(cached)],
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put the global RNGs back where :func:`capture_rng_state` found them."""
    torch.set_rng_state(state["torch"].to(torch.uint8).cpu())
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(k) for k in internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), int(position), int(has_gauss), float(cached)))
    cuda_states = state.get("cuda") or []
    # A checkpoint written on a GPU machine may be resumed on a CPU one: CUDA streams
    # are restored only where the same number of devices exists.
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.to(torch.uint8).cpu() for s in cuda_states])
