"""Run job groups: here, in a process pool, or on SLURM through submitit.

A task is one group of jobs (those sharing a trained generator); it runs them in order
in a fresh :class:`PluginHost` and returns one record per job. A job that fails is a
record with its error; only an interrupt stops the task.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from wsad_core.bench.config import ExecutorConfig
from wsad_core.errors import ConfigError, UnknownPluginError, WeightsNotFoundError

__all__ = ["JobRecord", "execute_group", "run_facts", "run_groups"]

log = logging.getLogger("wsad.bench")

JobRecord = dict[str, Any]


def _run_status(run_dir: Path) -> dict[str, Any] | None:
    """The ``run.json`` of the run in ``run_dir`` (``None``: no readable run there)."""
    try:
        status = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def _finished_summary(run_dir: Path, status: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The summary rows of a run that finished earlier, else ``None``."""
    if status is None or status.get("status") != "finished":
        return None
    try:
        return list(json.loads((run_dir / "summary.json").read_text())["rows"])
    except (OSError, ValueError, KeyError):
        return None


def _recorded_seconds(status: dict[str, Any]) -> float | None:
    """Wall time of a finished run from its ``run.json`` (its last start to its end), for reused jobs."""
    from datetime import datetime

    try:
        started = datetime.fromisoformat(status["started_at"])
        finished = datetime.fromisoformat(status["finished_at"])
    except (ValueError, KeyError, TypeError):
        return None
    return round((finished - started).total_seconds(), 1)


def _same_settings(run_dir: Path, status: dict[str, Any], fingerprint: str) -> bool:
    """Whether the run in ``run_dir`` (its ``run.json`` is ``status``) has the settings of ``fingerprint``.

    A run made before a configuration field was added has another stored fingerprint but the same
    settings: its saved ``config.yaml``, validated again with today's defaults, gives ``fingerprint``.
    """
    if str(status.get("config_fingerprint")) == fingerprint:
        return True
    from wsad_core.config import RunConfig
    from wsad_core.results import read_run_config

    try:
        return RunConfig.model_validate(read_run_config(run_dir)).fingerprint() == fingerprint
    except (OSError, ValueError):  # unreadable, or no longer a valid configuration (pydantic: ValueError)
        return False


def _supersede(run_dir: Path, bench_dir: Path) -> Path:
    """Move a job folder whose configuration changed to ``<bench>/superseded/``; nothing is deleted."""
    try:
        relative = run_dir.resolve().relative_to(bench_dir.resolve())
    except ValueError:
        relative = Path(run_dir.name)
    target = bench_dir / "superseded" / time.strftime("%Y%m%d-%H%M%S", time.gmtime()) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    run_dir.rename(target)
    return target


def run_facts(run_dir: Path) -> dict[str, Any]:
    """A finished run's notes and deviations (from its ``env.json``)."""
    try:
        environment = json.loads((run_dir / "env.json").read_text())
    except (OSError, ValueError):
        return {"notes": [], "deviations": []}
    return {
        "notes": [str(n) for n in environment.get("notes", [])],
        "deviations": list(environment.get("deviations", [])),
    }


def execute_group(
    payloads: list[dict[str, Any]],
    shared_stages: str,
    on_record: Callable[[JobRecord], None] | None = None,
) -> list[JobRecord]:
    """Run the jobs of one group in order; picklable, so it runs in any worker.

    ``on_record`` (in-process only) sees each record as soon as its job ends.
    """
    from wsad_core.config import RunConfig
    from wsad_core.pipeline import run_pipeline
    from wsad_core.plugins import PluginHost
    from wsad_core.progress_log import LoggedProgress

    host = PluginHost()
    records = []
    for payload in payloads:
        record: JobRecord = {key: payload.get(key) for key in ("job_id", "dataset", "pipeline", "seed", "fold")}
        config = RunConfig.model_validate(payload["config"])
        run_dir = Path(str(config.output.out_dir))
        record["run_dir"] = str(run_dir)
        started = time.perf_counter()
        fingerprint = config.fingerprint()
        status = _run_status(run_dir)
        stored = None if status is None else status.get("config_fingerprint")
        summary = _finished_summary(run_dir, status)
        if stored is not None and not (
            _same_settings(run_dir, status, fingerprint)  # type: ignore[arg-type]
            # an unfinished run resumes only under its own fingerprint
            and (stored == fingerprint or summary is not None)
        ):
            moved = _supersede(run_dir, Path(shared_stages))
            log.warning("job %s: its configuration changed; the previous run moved to %s", payload["job_id"], moved)
            status = summary = None
        if summary is not None:
            seconds = _recorded_seconds(status)  # type: ignore[arg-type]
            record.update(status="finished", summary=summary, seconds=seconds, reused=True, **run_facts(run_dir))
            records.append(record)
            if on_record is not None:
                on_record(record)
            continue
        try:
            resume = (run_dir / "run.json").is_file()
            # Log lines, never bars: jobs may run in workers, and their run.log is where a user looks.
            outcome = run_pipeline(
                config, host, resume=resume, shared_stages=Path(shared_stages), progress=LoggedProgress()
            )
            record.update(status="finished", summary=list(outcome.summary), **run_facts(run_dir))
        except (UnknownPluginError, WeightsNotFoundError) as error:
            record.update(status="unavailable", error=f"{error.message}" + (f" ({error.hint})" if error.hint else ""))
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # a plugin's SystemExit fails its job, not the benchmark
            record.update(status="failed", error=f"{type(error).__name__}: {error}")
            log.warning("job %s failed: %s", payload["job_id"], record["error"])
        record["seconds"] = round(time.perf_counter() - started, 1)
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records


def run_groups(
    groups: list[list[dict[str, Any]]],
    shared_stages: Path,
    executor: ExecutorConfig,
    on_done: Callable[[list[JobRecord]], None],
) -> None:
    """Execute every group with ``executor``, calling ``on_done`` with records as jobs finish.

    ``shared_stages`` is the directory whose ``stages/`` the jobs share (the benchmark's).
    Locally each job is reported as soon as it ends; remote workers report per group.
    """
    if executor.kind == "local":
        for group in groups:
            execute_group(group, str(shared_stages), lambda record: on_done([record]))
        return
    for records in _dispatch(groups, str(shared_stages), executor):
        on_done(records)


def _dispatch(groups: list[list[dict[str, Any]]], shared: str, executor: ExecutorConfig) -> Iterator[list[JobRecord]]:
    if not groups:
        return
    if executor.kind == "process":
        # spawn, not fork: a forked torch process can deadlock in its thread pools.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=executor.workers, mp_context=context) as pool:
            futures = [pool.submit(execute_group, group, shared) for group in groups]
            for future in as_completed(futures):
                yield future.result()
    else:
        try:
            import submitit
        except ImportError:
            raise ConfigError(
                "executor 'submitit' needs the submitit package", hint="pip install 'wsad-core[cluster]'"
            ) from None
        parameters = dict(executor.submitit)
        cluster = parameters.pop("cluster", None)
        folder = Path(shared) / "submitit"
        auto = submitit.AutoExecutor(folder=folder, cluster=cluster)
        if parameters:
            auto.update_parameters(**parameters)
        jobs = [auto.submit(execute_group, group, shared) for group in groups]
        for job in jobs:
            yield job.result()
