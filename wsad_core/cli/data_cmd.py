"""``wsad data``: look at a dataset before running anything on it."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from wsad_core.cli._logging import verbosity_options
from wsad_core.cli._state import CliState
from wsad_core.cli._tables import output_console

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
    from wsad_core.overrides import apply_overrides

    # Bare KEY=VALUE is an adapter option, as the help says; dataset.KEY and preprocess.KEY as in `wsad run`.
    prefixed = [text if text.split("=", 1)[0].split(".")[0] in ("dataset", "preprocess") else f"dataset.{text}"
                for text in assignments]  # fmt: skip
    raw = apply_overrides({}, prefixed)
    adapter_options: dict[str, Any] = raw.get("data", {}).get("adapter_options", {})
    preprocess: dict[str, Any] = {**raw.get("data", {}).get("preprocess", {}), **raw.get("preprocess", {})}
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
                    "lesion_labels": report.config.lesion_labels,
                    "warnings": report.warnings,
                    "cases": rows,
                },
                indent=2,
                default=str,
            )
        )
        return
    console = output_console()
    title = f"{index.name}: {len(index.cases)} cases at {index.root}" + (" (SYNTHETIC)" if index.synthetic else "")
    # Two narrow tables rather than one wide one: each stays readable at 80 columns.
    console.print(_table(title + " — files", rows, _FILE_COLUMNS))
    console.print(_table("slices kept and their labels", rows, _SLICE_COLUMNS))
    for warning in report.warnings:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    console.print(f"modalities in every case: {', '.join(index.modalities) or 'none'}")
    lesion = report.config.lesion_labels
    console.print(
        "lesion: every label > 0"
        if lesion is None
        else f"lesion: labels {', '.join(map(str, lesion))} (others healthy)"
    )


_FILE_COLUMNS = {
    "case_id": "case",
    "modalities": "modalities",
    "shape": "shape",
    "spacing": "spacing mm",
    "brain_pct": "brain %",
    "labels": "labels",
    "subject": "subject",
}
_FOLDABLE = ("subject", "modalities", "labels")  # long free text wraps; numbers and shapes stay whole
_SLICE_COLUMNS = {
    "case_id": "case",
    "lesion_voxels": "lesion vox",
    "kept_slices": "kept",
    "anomalous": "anomalous",
    "healthy": "healthy",
    "ambiguous": "ambiguous",
    "brain_free": "no brain",
}


def _table(title: str, rows: list[dict[str, Any]], columns: dict[str, str]) -> Table:
    """The ``columns`` of ``rows`` (empty columns left out) with short headers; long cells wrap, never cut."""
    from rich import box

    shown = [key for key in columns if any(str(row.get(key, "")) not in ("", "None") for row in rows)]
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for key in shown:
        numeric = bool(rows) and isinstance(rows[0].get(key), int | float)
        foldable = key in _FOLDABLE
        table.add_column(columns[key], justify="right" if numeric else "left", overflow="fold", no_wrap=not foldable)
    for row in rows:
        if row.get("case_id") == "total" and "lesion_voxels" not in shown:
            continue  # the files table has nothing to total
        table.add_row(*("" if row.get(key) is None else str(row[key]) for key in shown))
    return table
