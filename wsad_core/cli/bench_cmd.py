"""``wsad bench``: every method on the same data, split and metrics, in one table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from wsad_core._names import inside, slug
from wsad_core.cli._logging import verbosity_options
from wsad_core.cli._state import CliState
from wsad_core.cli._tables import output_console
from wsad_core.errors import ConfigError

__all__ = ["bench"]


def _print_table(outcome: Any, console: Console) -> None:
    from wsad_core.bench.aggregate import row_deviations
    from wsad_core.bench.report import table_rules
    from wsad_core.deviations import describe_deviations, merge_deviations
    from wsad_core.metrics.thresholds import is_oracle

    rows = [r for r in outcome.rows if r.get("target", "test") == "test"]
    protocol = next((r["protocol"] for r in rows if r.get("protocol")), "")
    rules = table_rules(rows, protocol)
    rule = (
        "val-best" if "val-best" in rules else next((r for r in rules if not is_oracle(r)), rules[0] if rules else "")
    )
    title = f"{protocol}, {rule}{' (oracle)' if is_oracle(rule) else ''}: Dice / AUPRC (%), mean over seeds"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("dataset", "method", "Dice", "AUPRC", "paper Dice", "departs", "status"):
        table.add_column(
            column, no_wrap=column in ("dataset", "Dice", "AUPRC", "paper Dice", "departs"), overflow="fold"
        )
    seen = set()
    footnotes: list[str] = []  # long remarks, once below the table: the table stays readable at 80 columns
    for row in rows:
        key = (row["dataset"], row["pipeline"])
        if key in seen:
            continue
        seen.add(key)
        mine = [r for r in rows if (r["dataset"], r["pipeline"]) == key and r.get("threshold_rule") in (rule, "")]

        def value(metric: str, members: list[dict[str, Any]] = mine) -> str:
            hit = next((r for r in members if r.get("metric") == metric and r.get("mean") is not None), None)
            return f"{100 * hit['mean']:.1f}" if hit else "—"

        fixed = [
            r for r in rows if (r["dataset"], r["pipeline"]) == key and r.get("threshold_rule") in ("fixed:0.5", "")
        ]
        paper_row = next((r for r in fixed or mine if r.get("metric") == "dice" and r.get("paper_value")), None)
        paper = ""
        if paper_row is not None:
            paper = f"{100 * paper_row['paper_value']:.1f}"
            paper = paper if paper_row.get("comparable") else f"({paper}) n.c."
        method = [d for d in merge_deviations(*(row_deviations(r) for r in mine)) if d.kind != "protocol"]
        departs = "no"
        if method:
            footnotes.append(f"[{len(footnotes) + 1}] {row['pipeline']} departs: {describe_deviations(method)}")
            departs = f"† {len(method)} [{len(footnotes)}]"
        status = row["status"]
        if status not in ("finished", "reference only"):
            footnotes.append(f"[{len(footnotes) + 1}] {row['pipeline']} {status}: {row.get('reason', '')}")
            status = f"{status} [{len(footnotes)}]"
        table.add_row(
            row["dataset"],
            row["pipeline"] + (" †" if method else ""),
            value("dice"),
            value("auprc"),
            paper,
            departs,
            status,
        )
    table.caption = "† not the published method: how many departures, reasons [n] below (sources in summary.md; "
    table.caption += "full job errors in summary.csv). n.c.: the paper's number is not comparable with this row. "
    table.caption += "Paper numbers are per-slice Dice at fixed 0.5 in the crop256 frame."
    table.caption_justify = "left"
    console.print(table)
    for note in footnotes:
        console.print(note, highlight=False, markup=False)


@click.command()
@click.argument("config_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--preset", metavar="NAME", help="A ready-made benchmark instead of CONFIG: rasalore-table1.")
@click.option(
    "--data", "source", metavar="PATH|demo", default="demo", show_default=True, help="Dataset of a --preset benchmark."
)
@click.option(
    "--scale",
    type=click.Choice(["cpu", "paper"]),
    help="Training size: 'cpu' (reduced epochs and widths of the built-in methods, labelled on every row) or "
    "'paper' (as written). [default: cpu for --preset; a CONFIG as written]",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="LABEL",
    help="Run only the rows whose label matches (shell wildcards, case-insensitive; repeatable), e.g. "
    "--only 'Template*'. The full CONFIG can later be run into the same --out with --update.",
)
@click.option(
    "--folds",
    metavar="F,F,...",
    help="Run only these test folds of a cross-validated dataset (split: {folds: K}; numbered from 0), e.g. "
    "--folds 1,2 to split a long table across sessions; the other folds' finished jobs stay in the tables, and "
    "a later --update without --folds reuses every fold that finished.",
)
@click.option(
    "--paper-dataset",
    default="BraTS20",
    show_default=True,
    help="Paper column shown beside the --preset results (BraTS20, BraTS21, BraTS23 or MSD).",
)
@click.option("--seeds", metavar="S,S,...", help="Override the seeds, e.g. 0,1,2.")
@click.option(
    "--executor",
    type=click.Choice(["local", "process", "submitit"]),
    help="Override where jobs run (local: one after the other).",
)
@click.option("--workers", type=int, help="Parallel tasks for --executor process.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Benchmark directory. [default: runs/bench-<timestamp>-<name>]",
)
@click.option("--resume", is_flag=True, help="Continue the benchmark in --out; finished jobs are not re-run.")
@click.option(
    "--no-progress",
    is_flag=True,
    help="Accepted as for `wsad run`; benchmark jobs always log progress as lines in their run.log (never bars).",
)
@click.option(
    "--update",
    is_flag=True,
    help="Continue the benchmark in --out with a changed CONFIG: finished jobs whose own settings are unchanged "
    "are reused; new and changed jobs run (replaced folders are kept under superseded/); removed jobs leave the "
    "tables.",
)
@click.option("--dry-run", is_flag=True, help="List the jobs and exit.")
@click.pass_obj
@verbosity_options
def bench(state: CliState, config_file: Path | None, **kw: Any) -> None:
    """Benchmark pipelines on the same data, split, preprocessing and metrics; write the comparison table.

    \b
    Examples:
      wsad bench --preset rasalore-table1 --data ../shared/data/brats2018_demo --seeds 0
      wsad bench my-bench.yaml --out runs/my-bench
      wsad bench my-bench.yaml --out runs/my-bench --resume
      wsad bench my-bench.yaml --out runs/my-bench --update    # after adding or changing pipelines

    A job that cannot run or fails is a row of the table with its reason, and one line on stderr
    counts them, e.g. "1 of 6 jobs did not finish: 1 unavailable — see DIR/summary.md". Exit status:
    0 when at least one job finished; 1 when none did (the table is still written, with every reason)
    or on an error.
    """
    from wsad_core.bench import load_bench_config, preset, run_bench
    from wsad_core.bench.jobs import plan_jobs
    from wsad_core.bench.presets import scaled, selected
    from wsad_core.bench.runner import check_folds, of_folds

    if (config_file is None) == (kw["preset"] is None):
        raise ConfigError("give either a CONFIG file or --preset NAME", hint="e.g. wsad bench --preset rasalore-table1")
    overrides: dict[str, Any] = {}
    if kw["seeds"]:
        overrides["seeds"] = _integers("--seeds", kw["seeds"], "integers")
    if config_file is not None:
        config = scaled(load_bench_config(config_file, overrides), kw["scale"] or "paper")
    else:
        seeds = tuple(overrides.get("seeds", (0, 1, 2)))
        config = preset(
            kw["preset"], data=kw["source"], scale=kw["scale"] or "cpu", paper_dataset=kw["paper_dataset"], seeds=seeds
        )
    config = selected(config, kw["only"])
    folds = _parse_folds(kw["folds"])
    if folds is not None:
        check_folds(config, folds)
    executor = config.executor.model_copy(
        update={k: v for k, v in (("kind", kw["executor"]), ("workers", kw["workers"])) if v}
    )
    config = config.model_copy(update={"executor": executor})
    out = kw["out_dir"]
    if out is None:
        # The name is checked when the configuration is read; inside() is the backstop that keeps the
        # default folder under runs/ whatever the name.
        runs = Path("runs")
        out = inside(runs, runs / f"bench-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{slug(config.name)}")
    for flag in ("resume", "update"):
        if kw[flag] and kw["out_dir"] is None:
            raise ConfigError(f"--{flag} needs --out DIR naming the benchmark to continue")
    if kw["dry_run"]:
        _check_sources(config)
        for job in of_folds(plan_jobs(config, out), folds):
            click.echo(f"{job.job_id}\t{'reference only' if job.config is None else job.config.pipeline.label()}")
        return
    outcome = run_bench(config, state.host, out_dir=out, resume=kw["resume"], update=kw["update"], folds=folds)
    _print_table(outcome, output_console())
    click.echo(f"results: {outcome.directory}/summary.md (also .csv, .tex, plots/, jobs/)")
    problem = outcome.problem_line()
    if problem:
        label, style = ("error", "bold red") if outcome.none_finished else ("warning", "bold yellow")
        Console(stderr=True).print(Text.assemble((f"{label}: ", style), problem), highlight=False, soft_wrap=True)
    if outcome.none_finished:
        raise click.exceptions.Exit(1)  # the table holds no result: scripts must not take it for one


def _check_sources(config: Any) -> None:
    """Every dataset folder exists (``--dry-run`` says so before hours of jobs would find out)."""
    for dataset in config.datasets:
        if dataset.source != "demo" and not Path(dataset.source).expanduser().exists():
            raise ConfigError(
                f"dataset {dataset.name!r}: {dataset.source} does not exist",
                hint="relative paths are taken from the benchmark file's folder (or the working folder)",
            )


def _integers(option: str, text: str, what: str) -> list[int]:
    """The integers of a comma-separated option value, e.g. ``--seeds 0,1,2``."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"{option} {text!r} is not a comma-separated list of {what}", hint=f"e.g. {option} 1,2"
        ) from None


def _parse_folds(text: str | None) -> set[int] | None:
    """The fold numbers of ``--folds F,F,...`` (``None`` when not given)."""
    if text is None:
        return None
    folds = set(_integers("--folds", text, "fold numbers"))
    if not folds:
        raise ConfigError("--folds was given no fold number", hint="e.g. --folds 1,2")
    return folds
