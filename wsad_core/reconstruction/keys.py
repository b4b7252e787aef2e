"""Checkpoint-directory keys: a run resumes only into a directory trained on the same things.

Every trained baseline keys its checkpoint directory by a sha256 over its format tag,
training options, seed and the exact slices it trains and selects on, so rerunning an
interrupted run resumes it while a run with other options or data starts afresh.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from wsad_core import SliceSet

__all__ = ["hash_slices", "run_key"]

_CHUNK = 64  # slices per hashing step: memory-mapped caches are never loaded whole


def hash_slices(digest: Any, slices: SliceSet, index: np.ndarray) -> None:
    """Feed the images, brain masks and labels of ``slices[index]`` to ``digest``, chunk by chunk."""
    for start in range(0, int(index.size), _CHUNK):
        part = index[start : start + _CHUNK]
        digest.update(np.ascontiguousarray(slices.images[part]).data)
        digest.update(np.packbits(slices.brain_masks[part]).tobytes())
        digest.update(slices.labels[part].tobytes())


def run_key(header: object, parts: list[tuple[SliceSet, np.ndarray]]) -> str:
    """16 hex digits of sha256 over ``header`` (JSON-able) and the slices of ``parts``.

    Args:
        header: format tag, options, seed, upstream keys: anything that changes the result.
        parts: ``(slices, positions)`` pairs whose content the training depends on.
    """
    digest = hashlib.sha256(json.dumps(header, sort_keys=True, default=str).encode())
    for slices, index in parts:
        index = np.asarray(index, dtype=np.int64)
        digest.update(index.tobytes())
        hash_slices(digest, slices, index)
    return digest.hexdigest()[:16]
