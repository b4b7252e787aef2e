"""Copy what a benchmark's tables are made from into a folder that can be committed (e.g. docs/results/NAME).

    python benchmarks/export_results.py runs/brats2018-demo-cpu docs/results/brats2018-demo-cpu
    python benchmarks/export_results.py runs/t2-new docs/results/brats-t2-cpu DEST-AS-IT-WAS \\
        --config benchmarks/configs/brats-t2-cpu.yaml

Copies bench.yaml, jobs.json and, for every job, its summary.json, env.json, split.json and
config.yaml — exactly what `wsad report` reads — and leaves out maps, overlays (they show
patient images), stage caches and per-case rows. The summaries (md, csv, tex, json) and the
bar charts in DEST are rendered again from the copied files (what `wsad report DEST` prints).

With --config, DEST holds that benchmark configuration's table assembled from several sources (bench
folders or earlier exports, DEST itself included): each job comes from the first source where it
finished *with the settings the configuration gives it* (its saved config.yaml is validated again and
compared by fingerprint, the rule `wsad bench --update` uses to reuse a job), so rows run in parts
or in earlier sessions join one table without being run again, and a job run with other settings is
never taken. Jobs no source holds are left out of the table and listed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

TOP = ("bench.yaml", "jobs.json")
PER_JOB = ("summary.json", "env.json", "split.json", "config.yaml")


def export(sources: list[Path], target: Path, config_file: Path | None = None) -> list[Path]:
    """Export the jobs of ``config_file`` (default: the single source's bench.yaml) from ``sources`` to ``target``."""
    from wsad_core.bench import load_bench_config
    from wsad_core.bench.config import BenchConfig
    from wsad_core.bench.jobs import plan_jobs

    for source in sources:
        if not (source / "bench.yaml").is_file():
            raise SystemExit(f"{source} is not a benchmark directory (no bench.yaml)")
    if config_file is None and len(sources) != 1:
        raise SystemExit("several sources need --config (the benchmark whose table DEST holds)")
    _refuse_run_folder(target)
    with tempfile.TemporaryDirectory() as scratch:
        readable = []
        for i, source in enumerate(sources):
            folder = source
            if target.exists() and source.resolve() == target.resolve():  # DEST is replaced below: read a copy
                folder = Path(shutil.copytree(source, Path(scratch) / f"source-{i}"))
            readable.append((folder, str(source)))
        if config_file is not None:
            config = load_bench_config(config_file)
        else:
            config = BenchConfig.model_validate(yaml.safe_load((sources[0] / "bench.yaml").read_text()))
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        bench_yaml = target / "bench.yaml"
        bench_yaml.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
        copied = [bench_yaml]
        records: dict[str, Any] = {}
        missing = []
        for job in plan_jobs(config, target):
            found = _take(job, readable, target, copied, several=len(sources) > 1)
            if found is None:
                missing.append(job.job_id)
            else:
                records[job.job_id] = found
        jobs_json = target / "jobs.json"
        jobs_json.write_text(json.dumps(records, indent=1, default=str), encoding="utf-8")
        copied.append(jobs_json)
    if missing:
        print(f"{len(missing)} job(s) in no source (not in the table): {', '.join(missing)}")
    _render_again(target)
    return copied


def _refuse_run_folder(target: Path) -> None:
    """Stop before DEST is replaced when it is a benchmark's own run folder (maps, stage caches, models).

    An export never holds ``run.json`` or ``stages/``; a run folder named as DEST (the second
    argument, easily taken for one more source) would otherwise be deleted.
    """
    if (target / "run.json").exists() or (target / "stages").is_dir():
        raise SystemExit(
            f"{target} is a benchmark run folder (wsad bench --out), not an export: refusing to replace it. "
            "DEST is the second argument: export_results.py SOURCE DEST [MORE SOURCES ...]"
        )


def _take(
    job: Any, sources: list[tuple[Path, str]], target: Path, copied: list[Path], *, several: bool
) -> dict[str, Any] | None:
    """The record of ``job`` from the first source that finished it with its settings; its files copied."""
    fallback = None
    for source, name in sources:
        record = _records(source).get(job.job_id)
        if not record:
            continue
        if job.config is None or record.get("status") != "finished":
            fallback = fallback or record  # reference-only rows, or why a job did not finish
            if job.config is None:
                return record
            continue
        job_dir = source / "jobs" / job.job_id
        if not _same_settings(job_dir, job.config):
            print(f"{job.job_id}: {name} ran it with other settings; not taken")
            continue
        destination = target / "jobs" / job.job_id
        destination.mkdir(parents=True, exist_ok=True)
        for file in PER_JOB:
            if (job_dir / file).is_file():
                copied.append(Path(shutil.copy2(job_dir / file, destination / file)))
        return {**record, "exported_from": name} if several else record
    return fallback


def _records(source: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((source / "jobs.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _same_settings(job_dir: Path, planned: Any) -> bool:
    from wsad_core.config import RunConfig
    from wsad_core.results import read_run_config

    try:
        return RunConfig.model_validate(read_run_config(job_dir)).fingerprint() == planned.fingerprint()
    except (OSError, ValueError):
        return False


def _render_again(target: Path) -> None:
    """The summaries rendered from the copied files by this version of wsad, as `wsad report` does."""
    from wsad_core.bench.aggregate import aggregate
    from wsad_core.bench.plots import bar_chart
    from wsad_core.bench.report import table_rules, write_reports
    from wsad_core.bench.runner import bench_header, load_bench_records

    config, records = load_bench_records(target)
    rows = aggregate(records, config)
    write_reports(target, rows, config, bench_header(config, records))
    for rule in table_rules(rows, config.headline_protocol):
        bar_chart(
            rows, config, rule, target / "plots" / f"{config.headline_protocol}_{rule.replace(':', '-')}_dice.png"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a benchmark folder (wsad bench --out) or an earlier export")
    parser.add_argument("dest", type=Path, help="the folder to write (replaced)")
    parser.add_argument("more", type=Path, nargs="*", help="further sources, searched in order after SOURCE")
    parser.add_argument("--config", type=Path, help="the benchmark configuration whose table DEST holds")
    args = parser.parse_args()
    files = export([args.source, *args.more], args.dest, args.config)
    print(f"copied {len(files)} files to {args.dest}")


if __name__ == "__main__":
    main()
