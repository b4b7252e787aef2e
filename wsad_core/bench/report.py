"""The paper-style comparison tables as Markdown, LaTeX, CSV and JSON.

Every row carries its own deviations from the published method: a ``†`` on the label and the
reasons in a column (Markdown), a footnote per row (LaTeX), a ``deviations`` column (CSV,
JSON). The paper's number is printed plainly only beside a comparable row; beside any other
it is kept for context in parentheses and marked ``n.c.`` (not comparable). Rules that
choose their threshold on test labels are called ``oracle`` in every header.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsad_core._atomic import atomic_write_text
from wsad_core.bench.aggregate import TableRow, row_deviations
from wsad_core.bench.config import BenchConfig
from wsad_core.bench.paper import PAPER, PAPER_PROTOCOL
from wsad_core.deviations import describe_deviations, merge_deviations
from wsad_core.metrics.thresholds import is_oracle

__all__ = [
    "render_csv",
    "render_json",
    "render_latex",
    "render_markdown",
    "render_overview",
    "table_rules",
    "write_reports",
]

_METRICS = ("dice", "auprc")
_COLUMNS = (
    "dataset",
    "pipeline",
    "target",
    "status",
    "protocol",
    "threshold_rule",
    "oracle",
    "metric",
    "mean",
    "std",
    "n_seeds",
    "seeds",
    "n_folds",
    "n_runs",
    "threshold",
    "frame",
    "postproc",
    "selection",
    "modality",
    "n_val_patients",
    "n_val_units",
    "paper_row",
    "paper_dataset",
    "paper_value",
    "comparable",
    "n_deviations",
    "deviations_text",
    "reason",
)
_NOT_COMPARABLE = "n.c."
LEGEND = (
    f"† marks a row that departs from the published method; the reasons are on the row. Paper numbers ({PAPER}) "
    f"are printed plainly only beside a row without any deviation, evaluated as the paper was (protocol "
    f"{PAPER_PROTOCOL.protocol}, threshold {PAPER_PROTOCOL.threshold_rule}, frame {PAPER_PROTOCOL.frame}); "
    f"elsewhere they are kept for context in parentheses, marked {_NOT_COMPARABLE} (not comparable). "
    "oracle: threshold chosen on the test labels — a ceiling, not a result."
)
_APPENDIX = (
    "Numbers marked T14 or T15 come from the paper's appendix Tables 14 (trained on BraTS20, tested on BraTS21) "
    "and 15 (trained on BraTS21, tested on BraTS20), where the diffusion baselines were retrained on healthy "
    "BraTS slices and thresholded at 0.5 on the normalised residual."
)


def legend(config: BenchConfig) -> str:
    """The legend under a table; it explains the appendix marks only where a row has them."""
    if any(p.paper_table != 1 for p in config.pipelines):
        return f"{LEGEND} {_APPENDIX}"
    return LEGEND


def _pct(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def _rule_title(rule: str) -> str:
    return f"{rule} (oracle: chosen on test labels)" if is_oracle(rule) else rule


def _rule_heading(protocol: str, rule: str) -> str:
    """A table's title; ``rule`` is ``""`` when no job has a value (every job failed or was unavailable)."""
    if not rule:
        return f"`{protocol}`: no job has a value (each row's status says why)"
    return f"`{protocol}`, threshold rule `{_rule_title(rule)}`"


def table_rules(rows: Sequence[TableRow], protocol: str) -> list[str]:
    """Threshold rules that have numbers for ``protocol``: honest ones first, oracles last."""
    rules = list(
        dict.fromkeys(
            r["threshold_rule"]
            for r in rows
            if r["protocol"] == protocol and r.get("mean") is not None and r.get("target", "test") == "test"
        )
    )
    return sorted(rules, key=_rule_order)


def _rule_order(rule: str) -> tuple[int, str]:
    """Fixed rules, then val-best, then anything else, the oracle last."""
    if is_oracle(rule):
        return (3, rule)
    if rule.startswith("fixed"):
        return (0, rule)
    return (1, rule) if rule == "val-best" else (2, rule)


def _find(rows: Sequence[TableRow], **match: Any) -> TableRow | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def _cell_rows(rows: Sequence[TableRow], config: BenchConfig, dataset: str, pipeline: str, rule: str) -> list[TableRow]:
    """The rows behind one table cell group: the pipeline's headline-protocol test rows under ``rule``."""
    mine = [
        r for r in rows if r["dataset"] == dataset and r["pipeline"] == pipeline and r.get("target", "test") == "test"
    ]
    found = [r for r in mine if r["protocol"] == config.headline_protocol and r["threshold_rule"] == rule]
    return found or [r for r in mine if r.get("mean") is None]  # unavailable, failed or reference-only rows


def _paper_cell(row: TableRow | None) -> str:
    if row is None or row.get("paper_value") is None:
        return "—"
    value = f"{100 * row['paper_value']:.2f}"
    table = row.get("paper_table") or 1
    if table != 1:  # an appendix table: say which, every number elsewhere is Table 1's
        value = f"{value} T{table}"
    if row.get("status") == "reference only":
        return value  # the paper's own row: nothing of ours beside it
    return value if row.get("comparable") else f"({value}) {_NOT_COMPARABLE}"


def _deviation_text(members: Sequence[TableRow]) -> str:
    merged = merge_deviations(*(row_deviations(r) for r in members))
    return describe_deviations(merged, with_source=True)


def _facts(members: Sequence[TableRow]) -> str:
    first = next((r for r in members if r.get("mean") is not None), None)
    if first is None:
        return ""
    facts = []
    if first.get("reference_baseline"):
        facts.append("reference baseline (no published method)")
    for key in ("selection", "frame", "postproc", "modality"):
        if first.get(key) not in (None, ""):
            facts.append(f"{key} {first[key]}")
    patients = first.get("n_val_patients")
    if patients is not None:
        units = first.get("n_val_units")
        text = f"val-best on {patients} validation patient(s)"
        text += f", {units} units" if units not in (None, -1) else ""
        facts.append(text + (" (one patient: fragile)" if patients == 1 else ""))
    return "; ".join(facts)


def _status(members: Sequence[TableRow], limit: int = 120) -> str:
    """The row's status and, for a job that did not finish, the start of its reason (in full in summary.csv)."""
    status = next((r["status"] for r in members), "not run")
    if status in ("finished", "reference only"):
        return status
    reason = next((r.get("reason") for r in members if r.get("reason")), "")
    text = f"{status}: {reason}" if reason else status
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "… (reason in full: summary.csv)"


def _md(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "/")


@dataclass(frozen=True, slots=True)
class _PipelineLine:
    """One pipeline's cells under one rule, across datasets."""

    cells: list[str]
    paper: list[str]
    deviations: list[str]
    facts: list[str]
    statuses: list[str]
    unfinished: list[str]


def _pipeline_line(rows: Sequence[TableRow], config: BenchConfig, pipeline: str, rule: str) -> _PipelineLine:
    line = _PipelineLine([], [], [], [], [], [])
    for dataset in config.datasets:
        members = _cell_rows(rows, config, dataset.name, pipeline, rule)
        mine = [r for r in rows if r["dataset"] == dataset.name and r["pipeline"] == pipeline]
        for metric in _METRICS:
            hit = _find(members, metric=metric)
            line.cells.append(_pct(hit["mean"], hit.get("std")) if hit and hit.get("mean") is not None else "—")
            if dataset.paper_dataset:
                line.paper.append(_paper_cell(hit or _find(mine, metric=metric)))
        prefix = f"{dataset.name}: " if len(config.datasets) > 1 else ""
        # The method's deviations hold under every rule; the evaluation's only where this rule has numbers.
        method = [d for d in merge_deviations(*(row_deviations(r) for r in mine)) if d.kind != "protocol"]
        text = describe_deviations(merge_deviations(method, *(row_deviations(r) for r in members)), with_source=True)
        if text:
            line.deviations.append(prefix + text)
        if _facts(members):
            line.facts.append(prefix + _facts(members))
        status = _status(members or mine)
        if not members and any(r.get("mean") is not None for r in mine):
            status = f"finished; no value under {rule} (e.g. no fixed threshold for unbounded score maps)"
        line.statuses.append(prefix + status)
        if next((r["status"] for r in members or mine), "not run") not in ("finished", "reference only"):
            line.unfinished.append(prefix + status)
    return line


def _rule_table(rows: Sequence[TableRow], config: BenchConfig, rule: str) -> list[str]:
    papers = [d for d in config.datasets if d.paper_dataset]
    head = ["method"] + [f"{d.name} {m}" for d in config.datasets for m in ("Dice", "AUPRC")]
    head += [f"paper {d.paper_dataset} {m}" for d in papers for m in ("Dice", "AUPRC")]
    head += ["what the row is", "departs from the published method (this row)", "status"]
    lines = [
        f"## {_rule_heading(config.headline_protocol, rule)}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + " --- |" * len(head),
    ]
    for pipeline in config.pipelines:
        line = _pipeline_line(rows, config, pipeline.label, rule)
        label = pipeline.label + (" †" if line.deviations else "")
        facts, deviations = "; ".join(line.facts) or "—", "; ".join(line.deviations) or "none"
        lines.append(
            "| "
            + " | ".join(_md(c) for c in [label, *line.cells, *line.paper, facts, deviations])
            + f" | {_md('; '.join(line.statuses))} |"
        )
    lines.append("")
    return lines


def render_overview(rows: Sequence[TableRow], config: BenchConfig) -> str:
    """One wide table per dataset: Dice under every rule, AUPRC, AUROC, training pseudo-mask Dice, paper, deviations.

    This is the table of ``docs/results.md``, rendered by ``wsad report DIR --format overview``.
    """
    protocol = config.headline_protocol
    rules = table_rules(rows, protocol)
    lines = []
    for dataset in config.datasets:
        head = ["method", *(f"Dice {_rule_title(r)}" for r in rules), "AUPRC", "AUROC", "training pseudo-mask Dice"]
        if dataset.paper_dataset:
            head += [f"paper {dataset.paper_dataset} Dice", f"paper {dataset.paper_dataset} AUPRC"]
        head += ["departs from the published method (this row)", "min per run", "status"]
        title = f"### {dataset.name}: `{protocol}` protocol, %" if len(config.datasets) > 1 else ""
        lines += ([title, ""] if title else []) + ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for pipeline in config.pipelines:
            mine = [r for r in rows if r["dataset"] == dataset.name and r["pipeline"] == pipeline.label]
            test = [r for r in mine if r.get("target", "test") == "test" and r["protocol"] == protocol]
            cells = []
            for rule in rules:
                hit = _find(test, threshold_rule=rule, metric="dice")
                cells.append(_pct(hit.get("mean"), hit.get("std")) if hit else "—")
            for metric in ("auprc", "auroc"):
                # Threshold-free: the same under every rule; taken from the first rule that has it.
                hit = next((h for rule in rules if (h := _find(test, threshold_rule=rule, metric=metric))), None)
                cells.append(_pct(hit.get("mean"), hit.get("std")) if hit else "—")
            pseudo = _find(mine, target="pseudo-masks/train", protocol=protocol, metric="dice")
            cells.append(_pct(pseudo.get("mean"), pseudo.get("std")) if pseudo else "—")
            fixed = [r for r in test if r["threshold_rule"] == PAPER_PROTOCOL.threshold_rule] or test
            unavailable = [r for r in mine if r.get("mean") is None]
            members = fixed or unavailable
            if dataset.paper_dataset:
                cells += [_paper_cell(_find(members, metric="dice")), _paper_cell(_find(members, metric="auprc"))]
            # The method's own deviations (not the protocol's, which depend on the rule column).
            method = [d for d in merge_deviations(*(row_deviations(r) for r in members)) if d.kind != "protocol"]
            label = pipeline.label + (" †" if method else "")
            text = describe_deviations(method, with_source=True) or "none"
            minutes = next((r["minutes_per_run"] for r in test if r.get("minutes_per_run") is not None), None)
            timing = "—" if minutes is None else f"{minutes:.0f}" if minutes >= 10 else f"{minutes:.1f}"
            lines.append("| " + " | ".join(_md(c) for c in [label, *cells, text, timing, _status(members)]) + " |")
        lines.append("")
    lines.append(
        f"Per-slice Dice under each threshold rule; AUPRC and AUROC are threshold-free. {legend(config)} The paper "
        "columns "
        "sit beside the fixed:0.5 Dice, the paper's rule; in the other Dice columns the threshold rule is a further "
        "departure. min per run: mean wall time of one job (one seed, one fold) on the machine that ran it, as "
        "recorded in jobs.json; a stage shared by several rows (one generator's or refiner's masks) counts in the "
        "first job that computed it."
    )
    return "\n".join(lines) + "\n"


def render_markdown(rows: Sequence[TableRow], config: BenchConfig, header: Mapping[str, str]) -> str:
    """``summary.md``: the benchmark's facts, the overview, then one table per threshold rule."""
    lines = [f"# wsad benchmark: {config.name}", ""]
    lines += [f"- **{key}**: {value}" for key, value in header.items()]
    lines += ["", "## Overview", "", render_overview(rows, config)]
    for rule in table_rules(rows, config.headline_protocol) or [""]:
        lines += _rule_table(rows, config, rule)
    lines += [
        "Values: mean ± std over seeds (and folds under cross-validation; std omitted for one run) of the per-job "
        "means, in %. " + legend(config),
        "",
    ]
    notes = sorted({(r["pipeline"], r["notes"]) for r in rows if r.get("notes")})
    if notes:
        lines += ["## Other facts reported by the methods", ""] + [f"- **{p}**: {n}" for p, n in notes] + [""]
    return "\n".join(lines)


def _tex(text: str) -> str:
    for raw, escaped in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
        ("$", r"\$"),
        ("{", r"\{"),
        ("}", r"\}"),
        ("~", r"\textasciitilde{}"),
        ("^", r"\textasciicircum{}"),
        ("±", r"$\pm$"),
        ("²", r"$^2$"),
        ("†", r"$\dagger$"),
        ("—", "--"),
        ("→", r"$\rightarrow$"),
        ("·", r"$\cdot$"),
        ("…", r"\ldots{}"),
    ):
        text = text.replace(raw, escaped)
    return text


def render_latex(rows: Sequence[TableRow], config: BenchConfig) -> str:
    """A booktabs table per threshold rule (Dice / AUPRC per dataset, then the paper's), a footnote per row.

    Rows whose jobs did not finish get a note with their status and reason; with no value at all,
    one table lists every row and its reason.
    """
    parts = []
    papers = [d for d in config.datasets if d.paper_dataset]
    for rule in table_rules(rows, config.headline_protocol) or [""]:
        n = 2 * (len(config.datasets) + len(papers))
        lines = [
            r"\begin{table}[t]",
            r"\centering",
            r"\begin{tabular}{l" + "c" * n + "}",
            r"\toprule",
            "Method & "
            + " & ".join(rf"\multicolumn{{2}}{{c}}{{{_tex(d.name)}}}" for d in config.datasets)
            + "".join(rf" & \multicolumn{{2}}{{c}}{{paper {_tex(str(d.paper_dataset))}}}" for d in papers)
            + r" \\",
            " & " + " & ".join(["Dice & AUPRC"] * (len(config.datasets) + len(papers))) + r" \\",
            r"\midrule",
        ]
        footnotes, unfinished = [], []
        for pipeline in config.pipelines:
            line = _pipeline_line(rows, config, pipeline.label, rule)
            label = _tex(pipeline.label)
            if line.deviations:
                reasons = _tex("; ".join(line.deviations))
                footnotes.append(f"$^{{\\dagger{len(footnotes) + 1}}}$ {_tex(pipeline.label)}: {reasons}")
                label += f"$^{{\\dagger{len(footnotes)}}}$"
            lines.append(" & ".join([label, *(_tex(c) for c in [*line.cells, *line.paper])]) + r" \\")
            unfinished += [f"{_tex(pipeline.label)} -- {_tex(status)}" for status in line.unfinished]
        title = _rule_heading(config.headline_protocol, rule).replace("`", "")
        caption = f"{title}; mean ± std over runs (%). " + legend(config)
        lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{_tex(caption)}}}"]
        if footnotes or unfinished:
            lines.append(r"\par\footnotesize")
        lines += [f"{note}\\\\" for note in footnotes]
        lines += [f"not finished: {note}\\\\" for note in unfinished]
        lines += [r"\end{table}", ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)


def render_csv(rows: Sequence[TableRow]) -> str:
    """Every row (all targets, protocols, rules and metrics) with its labels and deviations as text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def render_json(rows: Sequence[TableRow], config: BenchConfig, header: Mapping[str, str]) -> str:
    """``summary.json``: the header, the configuration, every row with its deviations as records.

    The methods' other facts (``notes``) are stored once per pipeline, not on every row.
    """
    notes = {f"{r['dataset']} / {r['pipeline']}": r["notes"] for r in rows if r.get("notes")}
    slim = [{key: value for key, value in row.items() if key != "notes"} for row in rows]
    document = {
        "name": config.name,
        "header": dict(header),
        "config": config.model_dump(mode="json"),
        "notes": notes,
        "rows": slim,
    }
    return json.dumps(document, indent=None, separators=(",", ":"), default=str) + "\n"


def write_reports(directory: Path, rows: Sequence[TableRow], config: BenchConfig, header: Mapping[str, str]) -> None:
    """``summary.csv``, ``summary.json``, ``summary.md`` and ``summary.tex`` in ``directory``."""
    atomic_write_text(directory / "summary.csv", render_csv(rows))
    atomic_write_text(directory / "summary.json", render_json(rows, config, header))
    atomic_write_text(directory / "summary.md", render_markdown(rows, config, header))
    atomic_write_text(directory / "summary.tex", render_latex(rows, config))
