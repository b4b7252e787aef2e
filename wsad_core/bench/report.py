"""The paper-style comparison table as Markdown, LaTeX and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from wsad_core._atomic import atomic_write_text
from wsad_core.bench.aggregate import TableRow
from wsad_core.bench.config import BenchConfig
from wsad_core.bench.paper import PAPER

__all__ = ["render_latex", "render_markdown", "table_rules", "write_reports"]

_METRICS = ("dice", "auprc")
_COLUMNS = (
    "dataset",
    "pipeline",
    "status",
    "protocol",
    "threshold_rule",
    "metric",
    "mean",
    "std",
    "n_seeds",
    "seeds",
    "threshold",
    "paper_dataset",
    "paper_value",
    "reason",
    "notes",
)


def _pct(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def table_rules(rows: Sequence[TableRow], protocol: str) -> list[str]:
    """Threshold rules that have numbers for ``protocol``: honest ones first, test-set oracles last."""
    rules = list(
        dict.fromkeys(r["threshold_rule"] for r in rows if r["protocol"] == protocol and r.get("mean") is not None)
    )
    return sorted(rules, key=lambda rule: rule.startswith("test"))


def _cells(rows: Sequence[TableRow], config: BenchConfig, pipeline: str, rule: str) -> tuple[list[str], str]:
    """The row's value cells (datasets × metrics, then paper columns) and its remark."""
    cells, paper, remarks = [], [], []
    for dataset in config.datasets:
        mine = [r for r in rows if r["dataset"] == dataset.name and r["pipeline"] == pipeline]
        for metric in _METRICS:
            hit = next(
                (
                    r
                    for r in mine
                    if r["protocol"] == config.headline_protocol
                    and r["threshold_rule"] == rule
                    and r["metric"] == metric
                ),
                None,
            )
            cells.append(_pct(hit["mean"], hit.get("std")) if hit else "—")
            reference = next((r for r in mine if r["metric"] == metric and r.get("paper_value") is not None), None)
            if dataset.paper_dataset:
                paper.append(f"{100 * reference['paper_value']:.2f}" if reference else "—")
        status = next((r["status"] for r in mine), "not run")
        if status != "finished":
            reason = next((r.get("reason") for r in mine if r.get("reason")), "") or status
            remarks.append(f"{dataset.name}: {reason}")
    return cells + paper, "; ".join(remarks)


def render_markdown(rows: Sequence[TableRow], config: BenchConfig, header: Mapping[str, str]) -> str:
    """``summary.md``: the benchmark's facts, then one table per threshold rule."""
    lines = [f"# wsad benchmark: {config.name}", ""]
    lines += [f"- **{key}**: {value}" for key, value in header.items()]
    lines.append("")
    papers = [d for d in config.datasets if d.paper_dataset]
    head = ["method"] + [f"{d.name} {m}" for d in config.datasets for m in ("Dice", "AUPRC")]
    head += [f"paper {d.paper_dataset} {m}" for d in papers for m in ("Dice", "AUPRC")] + ["remarks"]
    for rule in table_rules(rows, config.headline_protocol) or [""]:
        oracle = " — UPPER BOUND: threshold chosen on test labels" if rule.startswith("test") else ""
        lines += [
            f"## `{config.headline_protocol}`, threshold rule `{rule}`{oracle}",
            "",
            "| " + " | ".join(head) + " |",
            "|" + " --- |" * len(head),
        ]
        for pipeline in config.pipelines:
            cells, remark = _cells(rows, config, pipeline.label, rule)
            lines.append("| " + " | ".join([pipeline.label, *cells, remark.replace("|", "/")]) + " |")
        lines.append("")
    lines += [
        "Values: mean ± std over seeds (std omitted for one seed) of the per-job means, in %. "
        f"Paper columns: {PAPER}; references only — other data, modality and frame unless stated, never asserted.",
        "",
    ]
    notes = sorted({(r["pipeline"], r["notes"]) for r in rows if r.get("notes")})
    if notes:
        lines += ["## Notes reported by the methods", ""] + [f"- **{p}**: {n}" for p, n in notes] + [""]
    return "\n".join(lines)


def _tex(text: str) -> str:
    for raw, escaped in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
        ("±", r"$\pm$"),
        ("—", "--"),
    ):
        text = text.replace(raw, escaped)
    return text


def render_latex(rows: Sequence[TableRow], config: BenchConfig) -> str:
    """A booktabs table per threshold rule (Dice / AUPRC per dataset)."""
    parts = []
    for rule in table_rules(rows, config.headline_protocol):
        n = 2 * len(config.datasets)
        lines = [
            r"\begin{table}[t]",
            r"\centering",
            r"\begin{tabular}{l" + "c" * n + "}",
            r"\toprule",
            "Method & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{_tex(d.name)}}}" for d in config.datasets) + r" \\",
            " & " + " & ".join(["Dice & AUPRC"] * len(config.datasets)) + r" \\",
            r"\midrule",
        ]
        for pipeline in config.pipelines:
            cells, _ = _cells(rows, config, pipeline.label, rule)
            lines.append(" & ".join(_tex(c) for c in [pipeline.label, *cells[:n]]) + r" \\")
        caption = f"{config.headline_protocol}, threshold rule {rule}; mean ± std over seeds (%)."
        if rule.startswith("test"):
            caption += " Upper bound: threshold chosen on test labels."
        lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{_tex(caption)}}}", r"\end{table}", ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)


def _csv(rows: Sequence[TableRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def write_reports(directory: Any, rows: Sequence[TableRow], config: BenchConfig, header: Mapping[str, str]) -> None:
    """``summary.csv``, ``summary.md`` and ``summary.tex`` in ``directory``."""
    atomic_write_text(directory / "summary.csv", _csv(rows))
    atomic_write_text(directory / "summary.md", render_markdown(rows, config, header))
    atomic_write_text(directory / "summary.tex", render_latex(rows, config))
