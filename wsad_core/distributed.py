"""Multi-process data-parallel training under ``torchrun``.

``torchrun --nproc_per_node=N $(which wsad) run ...`` starts N copies of the command. They
agree through the environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``): rank 0
runs the stages that do not train in parallel (generators, refiners), writes every file and
evaluates; all ranks train the segmenter together, each on its share of every epoch's
batches, with gradients averaged by :class:`torch.nn.parallel.DistributedDataParallel`.
Without torchrun every helper here is a no-op.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["World", "barrier", "broadcast", "current", "ensure_initialised", "rank_device", "single_process"]

_forced_single: list[bool] = []


@dataclass(frozen=True, slots=True)
class World:
    """The place of the current process among the ranks."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and runs the non-parallel stages."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one rank takes part."""
        return self.size > 1


def current() -> World:
    """The world torchrun describes in the environment (one rank without torchrun)."""
    if _forced_single:
        return World()
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))


@contextlib.contextmanager
def single_process() -> Iterator[None]:
    """Within the block, :func:`current` reports one rank (rank 0 running a stage alone)."""
    _forced_single.append(True)
    try:
        yield
    finally:
        _forced_single.pop()


def rank_device(device: str) -> str:
    """``cuda`` becomes ``cuda:<local rank>`` when several ranks share a machine."""
    world = current()
    if world.distributed and device == "cuda":
        return f"cuda:{world.local_rank}"
    return device


def ensure_initialised(device: str) -> None:
    """Join the process group (NCCL on CUDA, Gloo on CPU) if torchrun started several ranks."""
    world = current()
    if not world.distributed:
        return
    import datetime

    import torch.distributed as dist

    if not dist.is_initialized():
        # Other ranks wait at a barrier while rank 0 trains a generator alone: allow hours, not minutes.
        hours = float(os.environ.get("WSAD_DIST_TIMEOUT_HOURS", "24"))
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(hours=hours))


def broadcast(value: str) -> str:
    """Rank 0's ``value`` on every rank (e.g. a default run directory made from the clock)."""
    if not current().distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return str(box[0])


def barrier() -> None:
    """Wait for every rank (no-op with one rank)."""
    if current().distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
