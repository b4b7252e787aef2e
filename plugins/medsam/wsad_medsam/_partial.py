"""Partial MedSAM results kept in the run's work dir, so an interrupted refinement resumes where it stopped.

Prompting a few thousand slices takes tens of minutes on a CPU. Every ``interval`` seconds the finished
slices' probability maps are written atomically to ``medsam-partial/<key>.npz``; ``key`` hashes the
model, the options, the seed and the slices' content and prompts, so a file is only ever reused for the
same work. The file is removed once the call completes (the core stores the stage's result).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from wsad_core.results import atomic_save_npz

__all__ = ["PartialResults"]

_DIRECTORY = "medsam-partial"


class PartialResults:
    """Finished slices of one ``segment`` call, saved now and then and found again after an interrupt.

    Args:
        work_dir: the run's work dir for this stage (``None``: nothing is kept).
        parts: what identifies the work (model identity, options, seed, images, masks).
        interval: least seconds between two saves.
    """

    def __init__(self, work_dir: Path | None, parts: list[bytes], interval: float = 60.0) -> None:
        digest = hashlib.sha256()
        for part in parts:
            digest.update(hashlib.sha256(part).digest())
        self.path = None if work_dir is None else Path(work_dir) / _DIRECTORY / f"{digest.hexdigest()[:32]}.npz"
        self.interval = interval
        self.last = time.monotonic()

    def load(self, soft: np.ndarray) -> np.ndarray:
        """Fill ``soft`` with the saved slices; returns the bool array of slices already done."""
        done = np.zeros(len(soft), dtype=bool)
        if self.path is None or not self.path.is_file():
            return done
        try:
            with np.load(self.path, allow_pickle=False) as saved:
                indices, maps = saved["indices"], saved["maps"]
        except (OSError, ValueError, KeyError):  # damaged: start again
            return done
        if maps.shape[1:] != soft.shape[1:] or (len(indices) and indices.max() >= len(soft)):
            return done
        soft[indices] = maps
        done[indices] = True
        return done

    def maybe_save(self, soft: np.ndarray, done: np.ndarray, *, force: bool = False) -> None:
        """Save the finished slices if ``interval`` has passed (or ``force``)."""
        if self.path is None or not (force or time.monotonic() - self.last >= self.interval):
            return
        self.last = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        indices = np.flatnonzero(done)
        atomic_save_npz(self.path, compress=False, indices=indices, maps=soft[indices])

    def clear(self) -> None:
        """Forget the work once it is complete."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
