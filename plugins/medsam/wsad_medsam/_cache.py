"""A bounded cache of image embeddings keyed by model identity and preprocessed slice content.

Two levels: an in-memory LRU shared by every MedSAM object of the process (so the refiner, the
segmenters and repeated calls on the same slices — e.g. the overlay slices, which are also test slices —
encode each slice once), and an optional on-disk LRU in the run's ``work_dir`` that survives ``--resume``.
Embeddings are stored in float32, exactly as computed, so a hit gives bit-identical results.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import torch

__all__ = ["EmbeddingCache", "shared_memory_cache"]

_DIRECTORY = "medsam-embeddings"


class _MemoryLRU:
    """Least-recently-used mapping with a capacity in items."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, torch.Tensor] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def resize(self, capacity: int) -> None:
        """Set the capacity, evicting the oldest items beyond it."""
        self.capacity = capacity
        self._evict()

    def get(self, key: str) -> torch.Tensor | None:
        """The item, marked as recently used, or ``None``."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: torch.Tensor) -> None:
        """Store ``value`` (evicting the least recently used items beyond the capacity)."""
        self._items[key] = value
        self._items.move_to_end(key)
        self._evict()

    def clear(self) -> None:
        """Drop everything."""
        self._items.clear()

    def _evict(self) -> None:
        while len(self._items) > max(self.capacity, 0):
            self._items.popitem(last=False)


_SHARED = _MemoryLRU()


def shared_memory_cache() -> _MemoryLRU:
    """The process-wide in-memory level (tests clear it to force recomputation)."""
    return _SHARED


class EmbeddingCache:
    """Memory and disk levels in front of an image encoder.

    Args:
        memory_items: capacity of the shared in-memory level (0: not used).
        disk_dir: the run's work dir for the disk level (``None``: not used).
        disk_bytes: size bound of the disk level (0: not used).
    """

    def __init__(self, memory_items: int, disk_dir: Path | None = None, disk_bytes: int = 0) -> None:
        self.memory = _SHARED if memory_items > 0 else None
        if self.memory is not None:
            self.memory.resize(memory_items)
        self.disk_dir = disk_dir / _DIRECTORY if disk_dir is not None and disk_bytes > 0 else None
        self.disk_bytes = disk_bytes
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> torch.Tensor | None:
        """The embedding stored under ``key``, or ``None``."""
        value = self.memory.get(key) if self.memory is not None else None
        if value is None and self.disk_dir is not None:
            path = self.disk_dir / f"{key}.pt"
            try:
                value = torch.load(path, map_location="cpu", weights_only=True)
                os.utime(path)  # mark as recently used for eviction
            except Exception:  # absent, partial (interrupted run) or corrupt: a miss, recomputed
                value = None
            if value is not None and self.memory is not None:
                self.memory.put(key, value)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: str, value: torch.Tensor) -> None:
        """Store ``value`` under ``key`` in every enabled level."""
        if self.memory is not None:
            self.memory.put(key, value)
        if self.disk_dir is None:
            return
        self.disk_dir.mkdir(parents=True, exist_ok=True)
        path = self.disk_dir / f"{key}.pt"
        partial = path.with_suffix(".tmp")
        torch.save(value.contiguous().clone(), partial)
        os.replace(partial, path)  # atomic: readers never see half a file
        self._evict_disk()

    def _evict_disk(self) -> None:
        assert self.disk_dir is not None
        files = [(p.stat().st_mtime_ns, p.stat().st_size, p) for p in self.disk_dir.glob("*.pt")]
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.disk_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
