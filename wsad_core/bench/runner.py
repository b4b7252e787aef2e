"""``run_bench``: every job of a benchmark, shared stages, one comparison table.

Layout of a benchmark directory::

    <bench>/bench.yaml          the resolved benchmark configuration
    <bench>/run.json            status and fingerprint (resume refuses another configuration)
    <bench>/env.json            environment
    <bench>/jobs.json           one record per job: finished / failed / unavailable, error, seconds
    <bench>/jobs/<dataset>/<pipeline>/[fold-<f>/]seed-<s>/   each job's full run directory
    <bench>/stages/             stage outputs shared by the jobs (content-addressed)
    <bench>/superseded/         job folders replaced because their configuration changed (``--update``)
    <bench>/metrics/cases.csv   every job's long-format rows, with job columns
    <bench>/summary.csv .md .tex
    <bench>/plots/*.png
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from wsad_core._atomic import atomic_write_text
from wsad_core._version import __version__
from wsad_core.bench.aggregate import aggregate
from wsad_core.bench.config import BenchConfig
from wsad_core.bench.execute import JobRecord, run_groups
from wsad_core.bench.jobs import Job, group_jobs, plan_jobs
from wsad_core.bench.plots import bar_chart, overlay_grid
from wsad_core.bench.report import table_rules, write_reports
from wsad_core.errors import ConfigError, UnknownPluginError, WsadError
from wsad_core.pipeline import plan_pipeline
from wsad_core.results import RunDirectory, capture_environment, read_case_rows

if TYPE_CHECKING:
    from collections.abc import Collection

    from wsad_core.plugins import PluginHost

__all__ = ["BenchOutcome", "bench_header", "load_bench_records", "run_bench", "unfinished_line"]

log = logging.getLogger("wsad.bench")


class BenchOutcome:
    """Records of every job and the table rows of a benchmark that has run to its end."""

    def __init__(self, directory: Path, records: list[JobRecord], rows: list[dict[str, Any]]) -> None:
        self.directory, self.records, self.rows = directory, records, rows

    @property
    def unfinished(self) -> dict[str, int]:
        """How many jobs did not finish, per status (``failed``, ``unavailable``)."""
        return _unfinished(self.records)

    @property
    def none_finished(self) -> bool:
        """Whether there were jobs to run and not one of them finished: the table holds no result."""
        runnable = [r for r in self.records if r["status"] != "reference only"]
        return bool(runnable) and sum(self.unfinished.values()) == len(runnable)

    def problem_line(self) -> str:
        """One line on the jobs that did not finish (``""`` if every job finished).

        E.g. ``3 of 3 jobs did not finish: 2 failed, 1 unavailable — see runs/b/summary.md``.
        """
        return unfinished_line(self.records, self.directory)


def _unfinished(records: list[JobRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        if record["status"] not in ("finished", "reference only"):  # reference-only rows are not jobs
            counts[record["status"]] = counts.get(record["status"], 0) + 1
    return dict(sorted(counts.items()))


def unfinished_line(records: list[JobRecord], directory: Path) -> str:
    """``N of M jobs did not finish: …, see <directory>/summary.md`` (``""`` if every job finished)."""
    counts = _unfinished(records)
    if not counts:
        return ""
    runnable = sum(1 for r in records if r["status"] != "reference only")
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    jobs = "job" if runnable == 1 else "jobs"
    return f"{sum(counts.values())} of {runnable} {jobs} did not finish: {parts} — see {directory / 'summary.md'}"


def _preflight(job: Job, host: PluginHost) -> JobRecord | None:
    """A record for jobs that cannot run (unknown plugin, invalid options), else ``None``."""
    base = {"job_id": job.job_id, "dataset": job.dataset, "pipeline": job.pipeline, "seed": job.seed, "fold": job.fold}
    if job.config is None:
        return {**base, "status": "reference only"}
    try:
        plan_pipeline(job.config, host)
    except UnknownPluginError as error:
        return {**base, "status": "unavailable", "error": f"not installed: {error.message}"}
    except WsadError as error:
        return {**base, "status": "failed", "error": f"{type(error).__name__}: {error}"}
    return None


def _read_records(directory: Path) -> dict[str, JobRecord]:
    """The records of an earlier invocation's ``jobs.json`` (none when absent or unreadable)."""
    try:
        found = json.loads((directory / "jobs.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _write_records(directory: Path, records: dict[str, JobRecord]) -> None:
    slim = {job_id: {k: v for k, v in r.items() if k != "summary"} for job_id, r in records.items()}
    atomic_write_text(directory / "jobs.json", json.dumps(slim, indent=1, default=str))


def _write_cases(directory: Path, records: list[JobRecord], versions: str) -> None:
    rows: list[dict[str, Any]] = []
    for record in records:
        if record["status"] != "finished":
            continue
        for row in read_case_rows(record["run_dir"]):
            rows.append(
                {
                    "job_id": record["job_id"],
                    "bench_dataset": record["dataset"],
                    "bench_pipeline": record["pipeline"],
                    "versions": versions,
                    **row,
                }
            )
    if not rows:
        return
    names = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    (directory / "metrics").mkdir(exist_ok=True)
    atomic_write_text(directory / "metrics" / "cases.csv", buffer.getvalue())


def _versions(environment: dict[str, Any]) -> str:
    packages = environment.get("packages") or environment.get("versions") or {}
    if isinstance(packages, dict):
        wsad = {k: v for k, v in packages.items() if str(k).startswith("wsad")}
        return "; ".join(f"{k}=={v}" for k, v in sorted(wsad.items())) or f"wsad-core=={__version__}"
    return f"wsad-core=={__version__}"


def run_bench(
    config: BenchConfig,
    host: PluginHost,
    *,
    out_dir: Path,
    resume: bool = False,
    update: bool = False,
    folds: Collection[int] | None = None,
) -> BenchOutcome:
    """Run (or resume) the benchmark ``config`` into ``out_dir``.

    Args:
        config: the benchmark.
        host: the plugins.
        out_dir: the benchmark directory.
        resume: continue the benchmark ``out_dir`` holds; it must have the same configuration.
        update: continue a benchmark whose configuration has changed since: every finished job whose own
            run configuration is unchanged is reused, changed jobs are run again (their old folders are
            kept under ``superseded/``), new ones are run, and removed ones leave the tables.
        folds: run only these test folds of the cross-validated datasets (a long table split across
            sessions or machines); the other jobs keep their records, so a later run with every fold
            reuses what finished.

    Returns:
        The outcome. Jobs that did not finish are rows with their reason; when no job finished, the
        tables are written all the same and ``run.json`` says ``failed`` with
        :meth:`BenchOutcome.problem_line` as its error.

    Raises:
        RunDirectoryError: ``out_dir`` holds another benchmark or run (or this one without ``resume``),
            or another process is running the benchmark in ``out_dir``.
        ConfigError: ``folds`` names a fold no dataset of ``config`` has.
    """
    if folds is not None:
        check_folds(config, folds)
    started = time.perf_counter()
    fingerprint = json.dumps(config.model_dump(mode="json", exclude={"executor"}), sort_keys=True)
    bench = RunDirectory.open(
        out_dir, config_fingerprint=_sha(fingerprint), resume=resume or update, allow_changed_config=update
    )
    try:
        outcome = _run_in(bench, config, host, started, folds)
    except BaseException as error:
        bench.fail(error)
        raise
    if outcome.none_finished:
        bench.mark("failed", error=outcome.problem_line())
    else:
        bench.mark("finished")
    return outcome


def check_folds(config: BenchConfig, folds: Collection[int]) -> None:
    """Raise :class:`ConfigError` unless every fold in ``folds`` is a test fold of some dataset of ``config``."""
    available = {fold for dataset in config.datasets for fold in range(dataset.split.folds or 0)}
    if not available:
        raise ConfigError("--folds needs a cross-validated dataset (split: {folds: K}); this benchmark has none")
    unknown = sorted(set(folds) - available)
    if unknown or not folds:
        raise ConfigError(
            f"--folds {','.join(map(str, sorted(folds)))}: no dataset has fold(s) {unknown or 'none given'}",
            hint=f"folds are numbered 0 to {max(available)}",
        )


def of_folds(jobs: list[Job], folds: Collection[int] | None) -> list[Job]:
    """The jobs of ``folds`` (all jobs when ``None``); a fold-less dataset's jobs belong to no fold selection."""
    return jobs if folds is None else [job for job in jobs if job.fold is not None and job.fold in folds]


def _run_in(
    bench: RunDirectory, config: BenchConfig, host: PluginHost, started: float, folds: Collection[int] | None = None
) -> BenchOutcome:
    """Every job of ``config`` (of ``folds``) in the opened benchmark directory ``bench``, then the tables and plots."""
    directory = bench.root
    atomic_write_text(directory / "bench.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    environment = capture_environment(device=config.device, seed=min(config.seeds))
    atomic_write_text(directory / "env.json", json.dumps(environment, indent=1, default=str))
    bench.mark("running")
    jobs = plan_jobs(config, directory)
    jobs = of_folds(jobs, folds)
    # Jobs of rows (``--only``) or folds (``--folds``) this invocation does not run keep their records:
    # jobs.json is how the report and export_results find them.
    others = {k: v for k, v in _read_records(directory).items() if k not in {job.job_id for job in jobs}}
    records: dict[str, JobRecord] = {}
    pending: list[Job] = []
    for job in jobs:
        blocked = _preflight(job, host)
        if blocked is None:
            pending.append(job)
        else:
            records[job.job_id] = blocked
    _write_records(directory, {**others, **records})
    log.info(
        "benchmark %s: %d jobs, %d to run (%s executor)", config.name, len(jobs), len(pending), config.executor.kind
    )

    def done(group_records: list[JobRecord]) -> None:
        for record in group_records:
            records[record["job_id"]] = record
            log.info(
                "job %s: %s%s",
                record["job_id"],
                record["status"],
                f" — {record['error']}" if record.get("error") else "",
            )
        _write_records(directory, {**others, **records})

    groups = [[job.payload() for job in group] for group in group_jobs(pending)]
    run_groups(groups, directory, config.executor, done)
    ordered = [records[job.job_id] for job in jobs if job.job_id in records]
    rows = aggregate(ordered, config)
    _write_cases(directory, ordered, _versions(environment))
    header = bench_header(config, ordered)
    write_reports(directory, rows, config, header)
    log.info("benchmark %s: this invocation took %.0f s", config.name, time.perf_counter() - started)
    plots = directory / "plots"
    for rule in table_rules(rows, config.headline_protocol):
        bar_chart(rows, config, rule, plots / f"{config.headline_protocol}_{rule.replace(':', '-')}_dice.png")
    try:
        overlay_grid(ordered, config, host, plots / "overlays.png")
    except WsadError as error:  # the figure is a nicety; the table is written
        log.warning("overlay grid skipped: %s", error)
    return BenchOutcome(directory, ordered, rows)


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def bench_header(config: BenchConfig, records: list[JobRecord]) -> dict[str, str]:
    """The facts above the tables.

    Built from the configuration and the job records only, so that a report rebuilt from the
    committed files gives the same text.
    """
    counts: dict[str, int] = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    datasets = "; ".join(
        f"{d.name} = {d.source} ({', '.join(d.modalities)}; slices {d.preprocess.skip_first}..D-"
        f"{d.preprocess.skip_last} at {d.preprocess.size}², {d.preprocess.normalisation} normalisation; split seed "
        f"{d.split.seed}, "
        + (
            f"{d.split.folds}-fold patient cross-validation (every patient tested once)"
            if d.split.folds
            else f"test fraction {d.split.test_fraction}"
        )
        + f", at least {d.split.min_validation_patients} validation patients where 3 training patients remain"
        + (f", first {d.max_cases} cases" if d.max_cases else "")
        + (", the paper's data" if d.same_as_paper else "")
        + ")"
        for d in config.datasets
    )
    job_seconds = sum(r.get("seconds") or 0.0 for r in records)
    return {
        "datasets": datasets,
        "seeds": ", ".join(str(s) for s in config.seeds),
        "protocol": f"{config.headline_protocol} (all protocols in summary.csv and each job's summary.md)",
        "threshold rules": ", ".join(_rule_names(config.evaluation.threshold_rules))
        + " — val-best and oracle maximise each protocol's own Dice statistic; oracle uses the test labels",
        "jobs": ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
        "job time": f"{job_seconds:.0f} s in jobs.json (a reused run counts the time that made it)",
        "executor": config.executor.kind,
    }


def _rule_names(rules: tuple[str, ...]) -> list[str]:
    from wsad_core.metrics.thresholds import parse_threshold_rule

    return [parse_threshold_rule(rule).text for rule in rules]


def load_bench_records(directory: Path) -> tuple[BenchConfig, list[JobRecord]]:
    """The configuration and job records of a benchmark directory, read from its files alone.

    Uses ``bench.yaml``, ``jobs.json`` and, for each finished job, ``jobs/<job_id>/summary.json``
    and ``env.json`` (paths relative to ``directory``, so a copied or committed directory works).

    Raises:
        DataError: a file is missing or unreadable.
    """
    from wsad_core.bench.execute import run_facts
    from wsad_core.errors import DataError

    try:
        config = BenchConfig.model_validate(yaml.safe_load((directory / "bench.yaml").read_text(encoding="utf-8")))
        slim = json.loads((directory / "jobs.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(
            f"{directory} is not a benchmark directory: {error}", hint="give the --out folder of a wsad bench run"
        ) from None
    records = []
    for job in plan_jobs(config, directory):
        record = dict(slim.get(job.job_id) or {})
        if not record:
            continue
        run_dir = directory / "jobs" / job.job_id
        record["run_dir"] = str(run_dir)
        if record.get("status") == "finished":
            try:
                record["summary"] = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["rows"]
            except (OSError, ValueError, KeyError) as error:
                raise DataError(f"cannot read the summary of job {job.job_id}: {error}") from None
            record.update(run_facts(run_dir))
        records.append(record)
    return config, records
