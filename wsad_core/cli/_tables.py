"""Rich tables printed by the CLI."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from wsad_core.metrics.thresholds import is_oracle
from wsad_core.types import RunOutcome

__all__ = ["METRIC_ORDER", "output_console", "print_run_summary", "summary_table"]

#: Width of tables written to a pipe or file: wide enough that no column is cut (they take their natural width).
_UNBOUNDED_WIDTH = 10_000


def output_console() -> Console:
    """The console for results on stdout: the terminal's width, or unbounded for a pipe or file.

    Rich assumes 80 columns when stdout is not a terminal, which truncates table cells to ``cas…``;
    output piped to a file or to ``grep`` must keep every character. ``$COLUMNS`` still wins.
    """
    console = Console()
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(width=_UNBOUNDED_WIDTH)


#: Metrics shown in the terminal (all of them, with std, are in summary.md).
METRIC_ORDER = ("dice", "auroc", "auprc")
_SHORT = {"precision": "prec", "recall": "rec"}


def _cell(mean: Any) -> str:
    return "n/a" if mean is None else f"{100 * float(mean):.1f}"


def summary_table(rows: Iterable[Mapping[str, Any]], *, title: str) -> Table:
    """Protocol × threshold rule rows, mean metrics (in %) as columns."""
    grouped: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = defaultdict(dict)
    for row in sorted(rows, key=lambda r: str(r["protocol"])):
        grouped[(str(row["protocol"]), str(row["threshold_rule"]))][str(row["metric"])] = row
    metrics = [m for m in METRIC_ORDER if any(m in g for g in grouped.values())]
    oracle = False
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("protocol", "rule", "t", *(_SHORT.get(m, m) for m in metrics), "n", "frame", "departs"):
        justify = "left" if column in ("protocol", "rule", "frame", "departs") else "right"
        table.add_column(column, justify=justify, no_wrap=column != "departs", overflow="fold")
    for (protocol, rule), by_metric in grouped.items():
        threshold = next((r.get("threshold") for r in by_metric.values() if r.get("threshold") is not None), None)
        if is_oracle(rule, protocol):
            rule, oracle = f"{rule} (oracle*)" if rule != "oracle" else "oracle*", True
        cells = [_cell(by_metric[m]["mean"]) if m in by_metric else "" for m in metrics]
        n = max(int(r.get("n", 0)) for r in by_metric.values())
        shown_rule = "—" if rule == "threshold-free" else rule
        first = next(iter(by_metric.values()))
        count = int(first.get("n_deviations") or 0)
        departs = f"†{count}" if count else "no"
        table.add_row(
            protocol,
            shown_rule,
            "" if threshold is None else f"{float(threshold):.3g}",
            *cells,
            str(n),
            str(first.get("frame") or ""),
            departs,
        )
    captions = []
    if oracle:
        captions.append("* oracle: threshold chosen on the test labels — a ceiling, not a result")
    if captions:
        table.caption = "\n".join(captions)
        table.caption_justify = "left"
    return table


def print_run_summary(outcome: RunOutcome, console: Console | None = None) -> None:
    """The test results of a finished run, then where its files are."""
    console = console or output_console()
    by_target: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in outcome.summary:
        by_target[str(row.get("target", "test"))].append(row)
    for target, rows in by_target.items():
        label = "test patients" if target == "test" else f"{target} (diagnostic)"
        console.print(summary_table(rows, title=f"{rows[0].get('pipeline', '')} — {label} — mean, %"))
    deviations = next((str(row["deviations"]) for row in outcome.summary if row.get("deviations")), "")
    if deviations:
        console.print(
            "[bold red]† Not the published method[/] — every row above departs from it (count in 'departs'):",
            highlight=False,
        )
        for deviation in deviations.split("; "):
            console.print(f"  † {deviation}", highlight=False)
    selection = next((str(row["selection"]) for row in outcome.summary if row.get("selection")), "")
    if selection:
        console.print(f"checkpoint selection: {selection}", highlight=False)
    notes = next((str(row["notes"]) for row in outcome.summary if row.get("notes")), "")
    for note in filter(None, notes.split(" | ")):
        console.print(f"[bold yellow]NOTE:[/] {note}", highlight=False)
    console.print(f"results (std, all metrics, labels): [bold]{outcome.run.run_dir}/summary.md[/]")
