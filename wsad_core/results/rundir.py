"""The on-disk layout of one run, its status file and its resumable stages.

::

    <run>/config.yaml, config.json  resolved configuration
    <run>/env.json                  environment (capture_environment)
    <run>/split.json                patient lists + sha256 of each
    <run>/run.json                  status (running/finished/failed), timestamps, fingerprint, error
    <run>/stages/<stage>/           arrays.npz + meta.json, then done.json (the key) last; work/
    <run>/metrics/cases.csv         long-format rows (+ cases.parquet with pyarrow)
    <run>/summary.csv .json .md     aggregates
    <run>/maps/<case>.nii.gz        predicted maps in the input's grid
    <run>/overlays/<case>_k<k>.png  figures
    <run>/run.log                   log
    <run>/run.lock                  while a process writes the run: its pid, host and start time

Stage outputs are described in :mod:`wsad_core.results._stages`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from wsad_core._atomic import remove_stale_temps
from wsad_core._version import __version__
from wsad_core.errors import RunDirectoryError
from wsad_core.results import _layout as layout
from wsad_core.results._lock import LOCK_FILE, RunLock
from wsad_core.results._serial import fingerprint, read_json, to_plain, utc_now, write_json, write_yaml
from wsad_core.results._stages import StagesMixin

__all__ = ["RunDirectory", "RunStatus", "config_fingerprint", "read_run_config"]

RunStatus = Literal["running", "finished", "failed"]
_STATUSES = ("running", "finished", "failed")


def config_fingerprint(config: Any) -> str:
    """sha256 of a configuration's canonical JSON: what :meth:`RunDirectory.open` compares on resume."""
    return fingerprint(config)


def read_run_config(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The run configuration a run saved in its ``config.yaml``, as plain data.

    It is the ``config`` section of what :meth:`RunDirectory.write_config` wrote.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not YAML, or holds no run configuration.
    """
    import yaml

    path = Path(root) / layout.CONFIG_YAML
    try:
        saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not YAML: {error}") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        raise ValueError(f"{path} holds no run configuration")
    return saved["config"]


def _short(key: str) -> str:
    return key[:16]


def _read_status(run_file: Path) -> dict[str, Any]:
    try:
        status = read_json(run_file)
    except (OSError, ValueError) as error:
        raise RunDirectoryError(
            f"{run_file} is unreadable: {error}", hint="delete the directory or choose another --out"
        ) from error
    if not isinstance(status, dict):
        raise RunDirectoryError(f"{run_file} does not hold a JSON object", hint="choose another --out")
    return status


class RunDirectory(StagesMixin):
    """One run's directory; create it with :meth:`open`.

    Only one process writes a run directory at a time: :meth:`open` takes the lock file
    ``run.lock``, which is released when the run is marked finished or failed, by :meth:`close`,
    or when the process exits.

    Args:
        root: The directory.
        status: The contents of ``run.json``.
        lock: The directory's lock, held by this process (``None``: not locked, e.g. a reader).
    """

    def __init__(self, root: Path, status: dict[str, Any], lock: RunLock | None = None) -> None:
        self.root = root
        self._status = status
        self._lock = lock

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        config_fingerprint: str,
        resume: bool,
        allow_changed_config: bool = False,
    ) -> RunDirectory:
        """Create the run directory, or reopen it to resume the run it holds.

        Args:
            path: The directory (created with its parents; an existing empty one is used).
            config_fingerprint: Fingerprint of the resolved configuration
                (:func:`config_fingerprint`); a resumed run must have the same.
            resume: Continue the run the directory holds (without one, start a new run).
            allow_changed_config: With ``resume``, accept a run with another configuration (a benchmark
                updated with ``--update``: its jobs check their own configurations).

        Returns:
            The directory, with ``run.json`` saying ``running``, locked by this process.

        Raises:
            RunDirectoryError: ``path`` is a file, a non-empty directory without a run, is locked by
                another live process (or by one on another host, which cannot be checked), holds a
                run and ``resume`` is off, or holds a run with another configuration.
        """
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise RunDirectoryError(f"--out {root} exists and is not a directory", hint="choose another --out")
        if not (root / layout.RUN).exists() and root.exists() and any(p.name != LOCK_FILE for p in root.iterdir()):
            raise RunDirectoryError(
                f"--out {root} is not empty and holds no wsad run (no {layout.RUN})",
                hint="choose a new or empty directory",
            )
        root.mkdir(parents=True, exist_ok=True)
        # The lock comes before reading run.json: a live writer is reported as such, and the
        # stale-temporary sweep of a resume never deletes another writer's files.
        lock = RunLock.acquire(root)
        try:
            status = cls._start(root, config_fingerprint, resume=resume, allow_changed_config=allow_changed_config)
        except BaseException:
            lock.release()
            raise
        return cls(root, status, lock)

    @staticmethod
    def _start(root: Path, config_fingerprint: str, *, resume: bool, allow_changed_config: bool) -> dict[str, Any]:
        """Check the run ``root`` holds against the request, then write ``run.json`` saying ``running``."""
        run_file = root / layout.RUN
        previous: dict[str, Any] = {}
        if run_file.exists():
            previous = _read_status(run_file)
            if not resume:
                raise RunDirectoryError(
                    f"{root} already holds a run; pass --resume to continue it or choose another --out",
                    hint=f"its status is {previous.get('status', 'unknown')!r} (see {run_file})",
                )
            stored = str(previous.get("config_fingerprint", ""))
            if stored != config_fingerprint and not allow_changed_config:
                raise RunDirectoryError(
                    f"cannot resume {root}: it holds a run with config fingerprint {_short(stored)}, "
                    f"the current configuration has {_short(config_fingerprint)}",
                    hint="resume with the configuration saved in its config.yaml, or choose another --out "
                    "(a benchmark: --update reuses its unchanged jobs)",
                )
            remove_stale_temps(root)
        now = utc_now()
        status = {
            "run_id": root.name,
            "status": "running",
            "config_fingerprint": config_fingerprint,
            "wsad_version": __version__,
            "created_at": previous.get("created_at", now),
            "started_at": now,
            "finished_at": None,
            "resumed": int(previous.get("resumed", -1)) + 1 if previous else 0,
            "error": None,
        }
        write_json(run_file, status)
        return status

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.root)!r}, status={self.status!r})"

    # ------------------------------------------------------------------ identity and status
    @property
    def run_id(self) -> str:
        """The directory's name."""
        return self.root.name

    @property
    def config_fingerprint(self) -> str:
        """The fingerprint recorded in ``run.json``."""
        return str(self._status["config_fingerprint"])

    @property
    def status(self) -> str:
        """``running``, ``finished`` or ``failed``."""
        return str(self._status["status"])

    @property
    def resumed(self) -> int:
        """How often the run has been resumed (0 for a fresh run)."""
        return int(self._status["resumed"])

    def info(self) -> dict[str, Any]:
        """A copy of ``run.json``."""
        return dict(self._status)

    def mark(self, status: RunStatus, error: str | None = None) -> None:
        """Record the run's status (and, for ``failed``, the one-line error) in ``run.json``.

        ``finished`` and ``failed`` end the run: the directory's lock is released.

        Raises:
            ValueError: ``status`` is not one of running, finished, failed.
        """
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}, got {status!r}")
        self._status.update(status=status, error=error, finished_at=None if status == "running" else utc_now())
        write_json(self.root / layout.RUN, self._status)
        if status != "running":
            self.close()

    def fail(self, error: BaseException) -> str:
        """Mark the run failed by ``error`` (``"interrupted"`` for Ctrl-C) and return that one-line message."""
        message = "interrupted" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
        self.mark("failed", error=message)
        return message

    def close(self) -> None:
        """Release the directory's lock (if this object holds it); another process may then resume the run."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def locked(self) -> bool:
        """Whether this object holds the directory's lock."""
        return self._lock is not None and self._lock.held

    # ------------------------------------------------------------------ paths
    def path(self, *parts: str) -> Path:
        """``root / parts``; e.g. ``run.path("metrics", "cases.csv")``."""
        return self.root.joinpath(*parts)

    @property
    def config_path(self) -> Path:
        """``config.yaml`` (``config.json`` beside it)."""
        return self.root / layout.CONFIG_YAML

    @property
    def env_path(self) -> Path:
        """``env.json``."""
        return self.root / layout.ENV

    @property
    def split_path(self) -> Path:
        """``split.json``."""
        return self.root / layout.SPLIT

    @property
    def status_path(self) -> Path:
        """``run.json``."""
        return self.root / layout.RUN

    @property
    def log_path(self) -> Path:
        """``run.log``."""
        return self.root / layout.LOG

    @property
    def metrics_dir(self) -> Path:
        """``metrics/`` (long-format case rows)."""
        return self.root / layout.METRICS

    @property
    def maps_dir(self) -> Path:
        """``maps/`` (predicted NIfTI maps)."""
        return self.root / layout.MAPS

    @property
    def overlays_dir(self) -> Path:
        """``overlays/`` (PNG figures)."""
        return self.root / layout.OVERLAYS

    def map_path(self, case_id: str) -> Path:
        """``maps/<case>.nii.gz``, the case named by :func:`~wsad_core.results.case_file_stem`."""
        return self.maps_dir / f"{layout.case_file_stem(case_id)}.nii.gz"

    def overlay_path(self, case_id: str, slice_index: int) -> Path:
        """``overlays/<case>_k<slice>.png`` with the slice index zero-padded to three digits."""
        return self.overlays_dir / f"{layout.case_file_stem(case_id)}_k{int(slice_index):03d}.png"

    def log_handler(self, level: int = logging.INFO) -> logging.FileHandler:
        """A handler appending to ``run.log``; attach it to the ``wsad`` logger (and close it after)."""
        handler = logging.FileHandler(self.log_path, mode="a", encoding="utf-8")
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        return handler

    # ------------------------------------------------------------------ run-level files
    def write_config(self, config: Mapping[str, Any]) -> None:
        """Save the resolved configuration as ``config.yaml`` and ``config.json``."""
        write_yaml(self.root / layout.CONFIG_YAML, config)
        write_json(self.root / layout.CONFIG_JSON, config)

    def write_environment(self, environment: Mapping[str, Any]) -> None:
        """Save :func:`~wsad_core.results.capture_environment`'s output as ``env.json``."""
        write_json(self.root / layout.ENV, environment)

    def write_split(self, split: Mapping[str, Any]) -> dict[str, Any]:
        """Save the patient split as ``split.json`` with the sha256 of each patient list.

        Args:
            split: e.g. ``{"train": [...], "validation": [...], "test": [...], "seed": 42}``;
                every list or tuple value gets a digest of its ids joined by newlines, in order.

        Returns:
            What was written: ``split`` plus ``{"sha256": {name: hex}}``.
        """
        digests = {
            name: hashlib.sha256("\n".join(str(item) for item in ids).encode()).hexdigest()
            for name, ids in split.items()
            if isinstance(ids, (list, tuple))
        }
        written = to_plain({**split, "sha256": digests})
        write_json(self.root / layout.SPLIT, written)
        return written
