"""``wsad report``: a benchmark's tables rendered again from its files alone."""

from __future__ import annotations

from pathlib import Path

import click

from wsad_core.cli._logging import verbosity_options

__all__ = ["report"]


@click.command()
@click.argument("bench_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "overview", "latex", "csv", "json"]),
    default="markdown",
    show_default=True,
    help="markdown: the whole summary.md; overview: the wide table of docs/results.md (every rule's Dice, AUPRC, "
    "AUROC, training pseudo-mask Dice, paper columns, deviations); latex, csv, json: summary.tex/.csv/.json.",
)
@click.option("--markdown", "markdown", is_flag=True, help="Shorthand for --format markdown.")
@verbosity_options
def report(bench_dir: Path, fmt: str, markdown: bool) -> None:
    """Render the tables of the benchmark in BENCH_DIR from its files and print them.

    Reads only bench.yaml, jobs.json and each finished job's summary.json and env.json (paths
    relative to BENCH_DIR), so a copied or committed benchmark directory renders exactly as the
    run wrote it: every published number can be traced to those files.

    \b
    Examples:
      wsad report runs/my-bench                       # summary.md to the terminal
      wsad report docs/results/brats2018-demo-cpu --format overview
    """
    from wsad_core.bench.aggregate import aggregate
    from wsad_core.bench.report import render_csv, render_json, render_latex, render_markdown, render_overview
    from wsad_core.bench.runner import bench_header, load_bench_records

    config, records = load_bench_records(bench_dir)
    rows = aggregate(records, config)
    header = bench_header(config, records)
    fmt = "markdown" if markdown else fmt
    text = {
        "markdown": lambda: render_markdown(rows, config, header),
        "overview": lambda: render_overview(rows, config),
        "latex": lambda: render_latex(rows, config),
        "csv": lambda: render_csv(rows),
        "json": lambda: render_json(rows, config, header),
    }[fmt]()
    click.echo(text, nl=not text.endswith("\n"))
