"""``wsad data``: look at a dataset before running anything on it."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from wsad_core.cli._logging import verbosity_options
from wsad_core.cli._state import CliState
from wsad_core.cli._tables import output_console
from wsad_core.overrides import parse_assignment

__all__ = ["data"]


@click.group()
def data() -> None:
    """Inspect datasets."""


@data.command()
@click.argument("source", metavar="PATH|demo")
@click.option("--adapter", metavar="NAME", help="Dataset adapter; detected from the folder when omitted.")
@click.option(
    "-o",
    "--option",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Adapter option (e.g. -o images='imgs/*.nii.gz' for the folder adapter), or "
    "preprocess.KEY=VALUE to count slices under other preprocessing settings.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
@verbosity_options
def inspect(state: CliState, source: str, adapter: str | None, assignments: tuple[str, ...], as_json: bool) -> None:
    """Cases, modalities, shapes, spacing and slice-label counts of a dataset.

    Slice counts follow the preprocessing defaults (RASALoRE): slices 15..D-15, anomalous = more than 200 lesion
    pixels, ambiguous = 1..200, healthy = no lesion but some brain, brain-free = no brain.
    """
    from wsad_core.data import PreprocessConfig, inspect_dataset, open_dataset

    adapter_options: dict[str, Any] = {}
    preprocess: dict[str, Any] = {}
    for text in assignments:
        path, value = parse_assignment(text)
        target = preprocess if path[0] == "preprocess" else adapter_options
        target[".".join(path[1:] if path[0] in ("preprocess", "dataset") else path)] = value
    index = open_dataset(source, state.host, adapter=adapter, options=adapter_options)
    report = inspect_dataset(index, PreprocessConfig(**preprocess))
    rows = report.rows()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "dataset": index.name,
                    "root": str(index.root),
                    "synthetic": index.synthetic,
                    "modalities": list(index.modalities),
                    "cases": rows,
                },
                indent=2,
                default=str,
            )
        )
        return
    console = output_console()
    title = f"{index.name}: {len(index.cases)} cases at {index.root}" + (" (SYNTHETIC)" if index.synthetic else "")
    table = Table(title=title, title_justify="left")
    columns = list(rows[0]) if rows else []
    for column in columns:
        table.add_column(column, justify="right" if isinstance(rows[0][column], int | float) else "left")
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    console.print(table)
    console.print(f"modalities in every case: {', '.join(index.modalities) or 'none'}")
    lesion = report.config.lesion_labels
    console.print(
        "lesion: every label > 0"
        if lesion is None
        else f"lesion: labels {', '.join(map(str, lesion))} (others healthy)"
    )
