"""Where stage outputs and plugin work directories live.

A single run keeps one slot per role in its own directory (``stages/<role>/``): a changed
configuration replaces the slot. A benchmark shares one content-addressed store between
its jobs (``stages/<role>-<key>/``), so the pseudo-masks of one generator are computed
once and reused by every segmenter that consumes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from wsad_core.results import RunDirectory, StageStore

__all__ = ["RunStages", "SharedStages", "StageStorage"]


class StageStorage(Protocol):
    """Stage outputs keyed by (role, key), and plugin work directories.

    ``shared`` stores serve several runs; their mask stages make every slice set any of those
    runs may read (the validation patients' too), so that the runs agree on the stored key.
    """

    shared: bool

    def done(self, role: str, key: str) -> bool:
        """Whether outputs for ``key`` are stored."""

    def save(self, role: str, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        """Store outputs (atomically; the done marker last)."""

    def load(self, role: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Stored outputs."""

    def work_dir(self, role: str, key: str | None) -> Path:
        """A plugin's persistent work directory (checkpoints) for ``key``."""

    def location(self, role: str, key: str) -> Path:
        """Where the outputs for ``key`` are stored (for log messages)."""


class RunStages:
    """One slot per role inside a run directory."""

    shared = False

    def __init__(self, rundir: RunDirectory) -> None:
        self._rundir = rundir

    def done(self, role: str, key: str) -> bool:  # noqa: D102 - see StageStorage
        return self._rundir.stage_done(role, key)

    def save(self, role: str, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:  # noqa: D102
        self._rundir.save_stage(role, key, arrays, meta)

    def load(self, role: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:  # noqa: D102
        return self._rundir.load_stage(role, key)

    def work_dir(self, role: str, key: str | None) -> Path:  # noqa: D102
        return self._rundir.work_dir(role, key)

    def location(self, role: str, key: str) -> Path:  # noqa: D102
        del key
        return self._rundir.stage_dir(role)


class SharedStages:
    """A content-addressed store shared by several runs (a benchmark's jobs)."""

    shared = True

    def __init__(self, root: Path) -> None:
        self._store = StageStore(root)

    @staticmethod
    def _slot(role: str, key: str) -> str:
        return f"{role}-{key[:24]}"

    def done(self, role: str, key: str) -> bool:  # noqa: D102 - see StageStorage
        return self._store.stage_done(self._slot(role, key), key)

    def save(self, role: str, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:  # noqa: D102
        self._store.save_stage(self._slot(role, key), key, arrays, meta)

    def load(self, role: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:  # noqa: D102
        return self._store.load_stage(self._slot(role, key), key)

    def work_dir(self, role: str, key: str | None) -> Path:  # noqa: D102
        return self._store.work_dir(self._slot(role, key) if key else role, key)

    def location(self, role: str, key: str) -> Path:  # noqa: D102
        return self._store.stage_dir(self._slot(role, key))
