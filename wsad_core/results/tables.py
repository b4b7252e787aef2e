"""Per-case metric rows (long format) and the summary table built from them.

``metrics/cases.csv`` holds one :class:`~wsad_core.types.MetricRow` per line, with the run's
labelling columns (run id, dataset, modality, plugins, seed, ...) in front so that files of
many runs can simply be concatenated; ``cases.parquet`` holds the same table when pyarrow
is installed. ``metrics/cases.columns.json`` records each column's type so that
:func:`read_case_rows` gives back ints, floats and strings, not CSV text.
"""

from __future__ import annotations

import csv
import io
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from wsad_core._atomic import atomic_write_text, atomic_writer
from wsad_core.errors import DataError
from wsad_core.metrics.thresholds import is_oracle
from wsad_core.results import _layout as layout
from wsad_core.results._markdown import render_summary
from wsad_core.results._serial import read_json, to_plain, write_json
from wsad_core.types import MetricRow

__all__ = ["read_case_rows", "read_summary", "summarise", "write_case_rows", "write_summary"]

PathLike = str | os.PathLike[str]

# Column types of the MetricRow fields; labelling and extras columns are inferred.
_CORE: dict[str, str] = {
    "protocol": "str",
    "unit": "str",
    "case_id": "str",
    "slice_index": "int",
    "metric": "str",
    "value": "float",
    "threshold_rule": "str",
    "threshold": "float",
}
_PARSERS = {"int": int, "float": float, "str": str, "bool": lambda text: text == "True"}
_SUMMARY_COLUMNS = (
    "protocol",
    "threshold_rule",
    "oracle",
    "metric",
    "unit",
    "mean",
    "std",
    "n",
    "n_undefined",
    "threshold",
    "n_thresholds",
    "frame",
    "postproc",
    "n_val_patients",
    "n_val_units",
)
# Labelled columns of the rows that a summary keeps when all rows of a group agree.
_GROUP_LABELS = ("frame", "postproc", "region", "n_val_patients", "n_val_units")


def _kind(values: Iterable[Any]) -> str:
    present = [value for value in values if value is not None]
    if present and all(isinstance(value, bool) for value in present):
        return "bool"
    if present and all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        return "int"
    if present and all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in present):
        return "float"
    return "str"


def _coerce(value: Any, kind: str) -> Any:
    if value is None:
        return None
    return {"float": float, "str": str}.get(kind, lambda v: v)(value)


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _records(rows: Sequence[MetricRow], labels: Mapping[str, Any]) -> list[dict[str, Any]]:
    records = []
    for row in rows:
        core = {
            "protocol": row.protocol,
            "unit": row.unit,
            "case_id": row.case_id,
            "slice_index": None if row.slice_index is None else int(row.slice_index),
            "metric": row.metric,
            # An evaluator's NaN means "undefined": stored as an empty cell, like None.
            "value": _finite_or_none(row.value),
            "threshold_rule": row.threshold_rule,
            "threshold": _finite_or_none(row.threshold),
        }
        clash = sorted(set(row.extras) & (set(core) | set(labels)))
        if clash:
            raise ValueError(f"MetricRow extras {clash} would overwrite fixed or labelling columns")
        records.append({**labels, **core, **to_plain(row.extras)})
    return records


def _write_parquet(path: Path, names: list[str], kinds: Mapping[str, str], records: list[dict[str, Any]]) -> bool:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        # A parquet file left by an earlier write would now disagree with the CSV.
        path.unlink(missing_ok=True)
        return False
    types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}
    table = pa.table({name: pa.array([r.get(name) for r in records], type=types[kinds[name]]) for name in names})
    with atomic_writer(path, "wb") as handle:
        pq.write_table(table, handle)
    return True


def write_case_rows(rows: Sequence[MetricRow], run_dir: PathLike, *, columns: Mapping[str, object]) -> list[Path]:
    """Write the long-format rows to ``<run_dir>/metrics/`` (CSV always, Parquet with pyarrow).

    Args:
        rows: Every metric of every unit.
        run_dir: The run directory (a :class:`~wsad_core.results.RunDirectory` or a path).
        columns: Run-level labels put in front of every row, in this order, e.g.
            ``{"run_id": ..., "dataset": ..., "modality": "flair (T2 substitute)", "seed": 0}``.

    Returns:
        The files written.

    Raises:
        ValueError: A label or an extras key has the name of a MetricRow field, or an extras
            key repeats a label.
    """
    labels = to_plain(dict(columns))
    clash = sorted(set(labels) & set(_CORE))
    if clash:
        raise ValueError(f"labelling columns {clash} clash with MetricRow fields")
    records = _records(rows, labels)
    extras = list(dict.fromkeys(key for row in rows for key in row.extras))
    names = [*labels, *_CORE, *extras]
    kinds = {name: _kind([labels[name]]) for name in labels}
    kinds.update(_CORE)
    kinds.update({name: _kind(record.get(name) for record in records) for name in extras})
    records = [{name: _coerce(record.get(name), kinds[name]) for name in names} for record in records]

    metrics = Path(run_dir) / layout.METRICS
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows({name: "" if value is None else value for name, value in r.items()} for r in records)
    atomic_write_text(metrics / layout.CASES_CSV, text.getvalue())
    write_json(metrics / layout.CASES_SCHEMA, {"columns": [{"name": n, "type": kinds[n]} for n in names]})
    written = [metrics / layout.CASES_CSV, metrics / layout.CASES_SCHEMA]
    if _write_parquet(metrics / layout.CASES_PARQUET, names, kinds, records):
        written.append(metrics / layout.CASES_PARQUET)
    return written


def read_case_rows(run_dir: PathLike) -> list[dict[str, Any]]:
    """The rows written by :func:`write_case_rows`, typed (empty cells are ``None``).

    Raises:
        DataError: ``metrics/cases.csv`` is missing or unreadable.
    """
    metrics = Path(run_dir) / layout.METRICS
    try:
        kinds = {c["name"]: c["type"] for c in read_json(metrics / layout.CASES_SCHEMA)["columns"]}
    except (OSError, ValueError, KeyError, TypeError):
        kinds = dict(_CORE)  # a hand-made CSV: type the MetricRow fields, keep the rest as text
    try:
        with open(metrics / layout.CASES_CSV, encoding="utf-8", newline="") as handle:
            raw = list(csv.DictReader(handle))
        return [
            {name: None if text == "" else _PARSERS[kinds.get(name, "str")](text) for name, text in row.items()}
            for row in raw
        ]
    except (OSError, ValueError, csv.Error) as error:
        raise DataError(
            f"cannot read {metrics / layout.CASES_CSV}: {error}",
            hint="the run has not written its metrics yet, or the file was edited by hand",
        ) from error


def summarise(rows: Sequence[MetricRow]) -> list[dict[str, Any]]:
    """Aggregate rows per (protocol, threshold_rule, metric), in order of first appearance.

    Args:
        rows: Long-format rows.

    Returns:
        One dict per group: ``protocol``, ``threshold_rule``, ``oracle`` (the threshold was
        chosen on test labels), ``metric``, ``unit`` (the unit,
        or the sorted units joined by ``+``), ``mean``, ``std`` (sample, ``ddof=1``; 0 for one
        value), ``n`` (units with a value), ``n_undefined`` (units whose value is ``None`` or
        NaN), ``threshold`` (the unique threshold, else ``None``), ``n_thresholds``, and the
        rows' ``frame``, ``postproc``, ``region``, ``n_val_patients`` and ``n_val_units`` where they
        agree. A group without any value has ``mean`` and ``std`` ``None``: never NaN.
    """
    groups: dict[tuple[str, str, str], list[MetricRow]] = {}
    for row in rows:
        groups.setdefault((row.protocol, row.threshold_rule, row.metric), []).append(row)
    summary = []
    for (protocol, rule, metric), members in groups.items():
        values = [v for row in members if (v := _finite_or_none(row.value)) is not None]
        thresholds = {t for row in members if (t := _finite_or_none(row.threshold)) is not None}
        n = len(values)
        labels = {}
        for name in _GROUP_LABELS:
            found = {row.extras[name] for row in members if name in row.extras}
            if len(found) == 1:
                labels[name] = found.pop()
        summary.append(
            {
                "protocol": protocol,
                "threshold_rule": rule,
                "oracle": is_oracle(rule, protocol),
                "metric": metric,
                "unit": "+".join(sorted({row.unit for row in members})),
                "mean": statistics.fmean(values) if n else None,
                "std": statistics.stdev(values) if n > 1 else (0.0 if n == 1 else None),
                "n": n,
                "n_undefined": len(members) - n,
                "threshold": next(iter(thresholds)) if len(thresholds) == 1 else None,
                "n_thresholds": len(thresholds),
                **labels,
            }
        )
    return summary


def write_summary(
    summary_rows: Sequence[Mapping[str, Any]],
    run_dir: PathLike,
    *,
    header: Mapping[str, str],
    labels: Mapping[str, str],
    deviations: Sequence[Mapping[str, str]] = (),
) -> list[Path]:
    """Write ``summary.csv``, ``summary.json`` and ``summary.md`` into the run directory.

    Args:
        summary_rows: :func:`summarise`'s output (possibly merged over runs).
        run_dir: The run directory.
        header: What the Markdown header block shows, in order, e.g. data, split, seed,
            weights, pipeline; values starting with ``NOTE:`` or ``WARNING:`` (or under a key
            ``note``/``warning``) are shown prominently above the rest.
        labels: Human label of each protocol, keyed by protocol name.
        deviations: The run's deviations from the published method
            (:meth:`~wsad_core.deviations.Deviation.to_dict`), stored in ``summary.json``; the
            rows carry them as text in their ``deviations`` column.

    Returns:
        The three files.
    """
    root = Path(run_dir)
    rows = [to_plain(dict(row)) for row in summary_rows]
    names = list(dict.fromkeys([*_SUMMARY_COLUMNS, *(key for row in rows for key in row)]))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=names, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    paths = [root / layout.SUMMARY_CSV, root / layout.SUMMARY_JSON, root / layout.SUMMARY_MD]
    atomic_write_text(paths[0], text.getvalue())
    document = {"header": dict(header), "labels": dict(labels), "deviations": [dict(d) for d in deviations]}
    write_json(paths[1], {**document, "rows": rows})
    markdown = render_summary(rows, title=root.resolve().name, header=header, labels=labels)
    atomic_write_text(paths[2], markdown)
    return paths


def read_summary(run_dir: PathLike) -> dict[str, Any]:
    """``summary.json`` of a run: ``{"header": ..., "labels": ..., "rows": [...]}``.

    Raises:
        DataError: The file is missing or unreadable.
    """
    path = Path(run_dir) / layout.SUMMARY_JSON
    try:
        return read_json(path)
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read {path}: {error}", hint="the run has not finished its summary") from error
