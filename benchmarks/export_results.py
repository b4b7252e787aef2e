"""Copy what a benchmark's tables are made from into a folder that can be committed (e.g. docs/results/NAME).

    python benchmarks/export_results.py runs/brats2018-demo-cpu docs/results/brats2018-demo-cpu

Copies bench.yaml, jobs.json and, for every job, its summary.json, env.json, split.json and
config.yaml — exactly what `wsad report` reads — and leaves out maps, overlays (they show
patient images), stage caches and per-case rows. The summaries (md, csv, tex, json) and the
bar charts in DEST are rendered again from the copied files (what `wsad report DEST` prints).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

TOP = ("bench.yaml", "jobs.json")
PER_JOB = ("summary.json", "env.json", "split.json", "config.yaml")


def export(source: Path, target: Path) -> list[Path]:
    if not (source / "bench.yaml").is_file():
        raise SystemExit(f"{source} is not a benchmark directory (no bench.yaml)")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    copied = []
    for name in TOP:
        if (source / name).is_file():
            copied.append(Path(shutil.copy2(source / name, target / name)))
    for summary in sorted((source / "jobs").rglob("summary.json")):
        job = summary.parent
        destination = target / job.relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for name in PER_JOB:
            if (job / name).is_file():
                copied.append(Path(shutil.copy2(job / name, destination / name)))
    _render_again(target)
    return copied


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


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    files = export(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"copied {len(files)} files to {sys.argv[2]}")
