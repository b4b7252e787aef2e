"""``summary.md``: a header block and one Markdown table per protocol.

Rows are threshold rules, columns are metrics as ``mean ± std`` (in % for metrics that are
fractions), then what the row is: frame, post-processing, checkpoint selection, modality,
the validation set behind ``val-best`` and every deviation from the published method (a
``†`` on the rule). Rules that look at test labels are marked ``oracle`` and listed last
(shared/docs/evaluation.md §3: oracle numbers never sit beside honest ones unlabelled).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["PERCENT_METRICS", "TARGET_TITLES", "is_upper_bound", "render_summary"]

# Metrics in [0, 1] shown in percent, as in the papers' tables; anything else is shown as is.
PERCENT_METRICS = frozenset(
    {
        "accuracy",
        "ap",
        "auprc",
        "auroc",
        "average_precision",
        "balanced_accuracy",
        "dice",
        "f1",
        "fpr",
        "iou",
        "jaccard",
        "precision",
        "recall",
        "sensitivity",
        "specificity",
        "tpr",
    }
)
_NOTE_KEYS = frozenset({"note", "notes", "warning", "warnings"})
_NOTE_PREFIXES = ("note:", "warning:")
_ORACLE_MARK = "(oracle: chosen on test labels)"
#: Section titles of the result targets a run evaluates (rows carry a ``target`` column).
TARGET_TITLES = {
    "test": "Test patients",
    "pseudo-masks/train": "Pseudo-masks of the training slices (diagnostic: scored against training labels, "
    "not a test result)",
}


def is_upper_bound(protocol: str, threshold_rule: str) -> bool:
    """Whether a row's threshold or protocol uses test labels (``oracle``, ``pooled-oracle``, ...)."""
    rule = threshold_rule.lower()
    return "oracle" in protocol.lower() or "oracle" in rule or rule.startswith("test")


def _cell(text: object) -> str:
    # One line per cell, and a '|' inside a value must not split the column.
    return " ".join(str(text).split()).replace("|", r"\|")


def _header_block(title: str, header: Mapping[str, str]) -> list[str]:
    lines = [f"# wsad results: {_cell(title)}", ""]
    notes, facts = [], []
    for key, value in header.items():
        text = _cell(value)
        if key.lower() in _NOTE_KEYS:
            notes.append(f"> **{text}**")
        elif text.lower().startswith(_NOTE_PREFIXES):
            notes.append(f"> **{text}** ({_cell(key)})")
        else:
            facts.append(f"- **{_cell(key)}**: {text}")
    for note in notes:
        lines.extend([note, ""])
    if facts:
        lines.extend([*facts, ""])
    return lines


def _value(row: Mapping[str, Any]) -> str:
    mean, std = row.get("mean"), row.get("std")
    if mean is None:
        return "n/a"
    std = 0.0 if std is None else std
    if str(row["metric"]).lower() in PERCENT_METRICS:
        return f"{100 * mean:.1f} ± {100 * std:.1f}"
    return f"{mean:.4g} ± {std:.2g}"


def _threshold(rows: Sequence[Mapping[str, Any]]) -> str:
    values = {row["threshold"] for row in rows if row.get("threshold") is not None}
    if len(values) == 1:
        return f"{values.pop():.4g}"
    varied = max([int(row.get("n_thresholds") or 0) for row in rows] + [len(values)])
    return f"varies ({varied})" if varied > 1 else "—"


def _row_labels(rows: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """What a table row is (frame, post-processing, selection, modality, validation) and its deviations."""
    first = rows[0]
    facts = []
    for key, name in (
        ("frame", "frame"),
        ("postproc", "postproc"),
        ("selection", "selection"),
        ("modality", "modality"),
    ):
        value = next((row.get(key) for row in rows if row.get(key) not in (None, "")), None)
        if value is not None:
            facts.append(f"{name} {value}")
    patients = next((row.get("n_val_patients") for row in rows if row.get("n_val_patients") is not None), None)
    if patients is not None:
        units = next((row.get("n_val_units") for row in rows if row.get("n_val_units") is not None), None)
        text = f"val-best on {patients} validation patient(s)" + (f", {units} units" if units not in (None, -1) else "")
        facts.append(text + (" (one patient: fragile)" if patients == 1 else ""))
    deviations = str(first.get("deviations") or "")
    return " · ".join(facts), deviations


def _protocol_table(protocol: str, rows: Sequence[Mapping[str, Any]], label: str, level: str = "##") -> list[str]:
    metrics = list(dict.fromkeys(str(row["metric"]) for row in rows))
    rules = list(dict.fromkeys(str(row["threshold_rule"]) for row in rows))
    rules.sort(key=lambda rule: is_upper_bound(protocol, rule))  # stable: honest rules first
    by_key = {(str(row["threshold_rule"]), str(row["metric"])): row for row in rows}
    titles = [f"{m} (%)" if m.lower() in PERCENT_METRICS else m for m in metrics]
    lines = [
        f"{level} {_cell(label)} (`{protocol}`)" if label != protocol else f"{level} `{protocol}`",
        "",
        "| threshold rule | threshold | n | "
        + " | ".join(_cell(t) for t in titles)
        + " | what the row is | departs from the published method |",
        "| :--- | ---: | ---: |" + " ---: |" * len(metrics) + " :--- | :--- |",
    ]
    undefined = []
    for rule in rules:
        cells = [by_key.get((rule, metric)) for metric in metrics]
        present = [cell for cell in cells if cell is not None]
        n = max(int(cell.get("n") or 0) for cell in present)
        values = []
        for metric, cell in zip(metrics, cells, strict=True):
            if cell is None:
                values.append("")
                continue
            count = int(cell.get("n") or 0)
            values.append(_value(cell) + (f" (n={count})" if count != n else ""))
            if cell.get("n_undefined"):
                undefined.append(f"{metric} @ {rule}: {cell['n_undefined']}")
        facts, deviations = _row_labels(present)
        name = f"{rule} {_ORACLE_MARK}" if is_upper_bound(protocol, rule) else rule
        name += " †" if deviations else ""
        lines.append(
            f"| {_cell(name)} | {_threshold(present)} | {n} | "
            + " | ".join(values)
            + f" | {_cell(facts) or '—'} | {_cell(deviations) or 'none'} |"
        )
    lines.append("")
    if undefined:
        lines.extend(["Undefined values (units left out of the mean): " + "; ".join(undefined) + ".", ""])
    return lines


def render_summary(
    rows: Sequence[Mapping[str, Any]], *, title: str, header: Mapping[str, str], labels: Mapping[str, str]
) -> str:
    """The Markdown text of ``summary.md``.

    Args:
        rows: Summary rows (``protocol``, ``threshold_rule``, ``metric``, ``mean``, ``std``, ``n``,
            ``n_undefined``, ``threshold``, ``n_thresholds``; optionally ``target``, which gets a
            section of its own).
        title: Shown in the first heading (the run's id).
        header: Facts shown above the tables; notes and warnings are set apart in bold.
        labels: Human label per protocol name (the name itself where missing).

    Returns:
        The document, ending with a newline.
    """
    lines = _header_block(title, header)
    targets = list(dict.fromkeys(str(row.get("target", "")) for row in rows))
    for target in targets:
        level = "##"
        if target:
            lines.extend([f"## {_cell(TARGET_TITLES.get(target, target))}", ""])
            level = "###"
        in_target = [row for row in rows if str(row.get("target", "")) == target]
        for protocol in dict.fromkeys(str(row["protocol"]) for row in in_target):
            members = [row for row in in_target if row["protocol"] == protocol]
            lines.extend(_protocol_table(protocol, members, labels.get(protocol, protocol), level))
    protocols = [row["protocol"] for row in rows]
    if not protocols:
        lines.extend(["No metrics were computed.", ""])
    lines.append(
        "Values are mean ± std over evaluation units (in % for fraction metrics); n counts units with a "
        f"defined value. Rows marked {_ORACLE_MARK} choose their threshold on test labels: a ceiling, not a "
        "result. † marks rows that depart from the published method, listed on the row."
    )
    return "\n".join(lines) + "\n"
