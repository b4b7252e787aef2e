"""Figures of a benchmark: a bar chart with error bars, and a qualitative overlay grid."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from wsad_core._atomic import atomic_write_bytes
from wsad_core.bench.aggregate import TableRow, row_deviations
from wsad_core.bench.config import BenchConfig
from wsad_core.bench.execute import JobRecord
from wsad_core.deviations import merge_deviations, outline_deviations
from wsad_core.metrics.thresholds import is_oracle

if TYPE_CHECKING:
    from wsad_core.plugins import PluginHost

__all__ = ["bar_chart", "bar_labels", "overlay_grid"]


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def bar_labels(rows: Sequence[TableRow], config: BenchConfig) -> list[str]:
    """The bar chart's label per pipeline: the name, and ``†`` with an outline of its deviations."""
    labels = []
    for pipeline in (p for p in config.pipelines if not p.reference_only):
        # The method's deviations do not depend on the rule (the protocol's, left out here, do).
        members = [r for r in rows if r["pipeline"] == pipeline.label]
        method = [d for d in merge_deviations(*(row_deviations(r) for r in members)) if d.kind != "protocol"]
        outline = outline_deviations(method, limit=48)
        labels.append(f"{pipeline.label} †\n{outline}" if outline else pipeline.label)
    return labels


def bar_chart(rows: Sequence[TableRow], config: BenchConfig, rule: str, path: Path, metric: str = "dice") -> bool:
    """Mean ``metric`` per pipeline and dataset; ``False`` if nothing to draw.

    Error bars show the std over runs (seeds × folds) only where a bar rests on more than one run: a single
    run has no spread to show, and a zero-length bar would suggest one.
    """
    labels = [p.label for p in config.pipelines if not p.reference_only]
    datasets = [d.name for d in config.datasets]
    values = np.full((len(datasets), len(labels)), np.nan)
    errors = np.zeros_like(values)
    runs = np.zeros_like(values)
    for row in rows:
        if (row.get("protocol"), row.get("threshold_rule"), row.get("metric")) != (
            config.headline_protocol,
            rule,
            metric,
        ):
            continue
        if row["pipeline"] in labels and row.get("mean") is not None:
            i, j = datasets.index(row["dataset"]), labels.index(row["pipeline"])
            values[i, j] = 100 * row["mean"]
            runs[i, j] = row.get("n_runs") or 1
            errors[i, j] = 100 * (row.get("std") or 0.0) if runs[i, j] > 1 else 0.0
    if np.isnan(values).all():
        return False
    shown = bar_labels(rows, config)
    figure = Figure(figsize=(max(4.0, 1.1 * len(labels) * len(datasets) + 1.5), 3.6))
    axes = figure.add_subplot()
    width = 0.8 / len(datasets)
    positions = np.arange(len(labels))
    for i, dataset in enumerate(datasets):
        spread = errors[i] if (runs[i] > 1).any() else None
        axes.bar(positions + i * width, np.nan_to_num(values[i]), width, yerr=spread, capsize=3, label=dataset)
        for j in np.flatnonzero(np.isnan(values[i])):
            axes.text(positions[j] + i * width, 1, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    axes.set_xticks(positions + width * (len(datasets) - 1) / 2, shown, rotation=25, ha="right", fontsize=7)
    axes.set_ylabel(f"{metric} (%)")
    axes.set_ylim(0, 100)
    oracle = " — oracle: threshold chosen on test labels, a ceiling" if is_oracle(rule) else ""
    most = int(runs.max())
    spread_text = f"mean ± std over up to {most} runs (seeds × folds)" if most > 1 else "one run per bar, no spread"
    axes.set_title(f"{config.name}: {config.headline_protocol}, {rule}{oracle}; {spread_text}", fontsize=9)
    if len(datasets) > 1:
        axes.legend(fontsize=7)
    _save(figure, path)
    return True


def _threshold(summary: list[dict[str, Any]], protocol: str) -> tuple[str, float]:
    for wanted in ("val-best", "fixed:0.5"):
        for entry in summary:
            if (
                entry.get("threshold_rule") == wanted
                and entry.get("protocol") == protocol
                and entry.get("threshold") is not None
            ):
                return wanted, float(entry["threshold"])
    return "none", 0.5


def overlay_grid(
    records: Sequence[JobRecord], config: BenchConfig, host: PluginHost, path: Path, cases: int = 3
) -> bool:
    """Test slices (rows) × image, ground truth and each pipeline's map (columns), first seed of each pipeline."""
    import nibabel as nib

    from wsad_core.data import load_volume, open_dataset
    from wsad_core.results import case_file_stem, radiological_view

    dataset = config.datasets[0]
    seed = min(config.seeds)
    finished = [r for r in records if r["status"] == "finished" and r["dataset"] == dataset.name and r["seed"] == seed]
    if not finished:
        return False
    # Under cross-validation each fold tests other patients: the grid shows one fold's.
    finished = [r for r in finished if r.get("fold") == finished[0].get("fold")]
    split = json.loads((Path(finished[0]["run_dir"]) / "split.json").read_text())
    index = open_dataset(dataset.source, host, adapter=dataset.adapter, options=dataset.adapter_options)
    chosen = []
    for case_id in split["test"][:cases]:
        case = index.case(case_id)
        if case.mask is None:
            continue
        mask = load_volume(case.mask, role="mask")
        truth = mask.array > 0
        area = truth.sum(axis=(0, 1))
        low, high = dataset.preprocess.skip_first, truth.shape[2] - dataset.preprocess.skip_last
        k = low + int(np.argmax(area[low:high])) if high > low else truth.shape[2] // 2
        image = load_volume(case.images[dataset.modalities[0]], role="image").array
        chosen.append((case_id, k, image[:, :, k], truth[:, :, k], mask.affine))
    if not chosen:
        return False
    columns = 2 + len(finished)
    figure = Figure(figsize=(2.0 * columns, 2.2 * len(chosen)), layout="constrained")
    for row, (case_id, k, image, truth, affine) in enumerate(chosen):
        panels = [
            ("image", radiological_view(image, affine), None),
            ("ground truth", radiological_view(image, affine), radiological_view(truth, affine)),
        ]
        for record in finished:
            map_file = Path(record["run_dir"]) / "maps" / f"{case_file_stem(case_id)}.nii.gz"
            volume = np.asarray(nib.load(map_file).dataobj)
            rule, threshold = _threshold(record["summary"], config.headline_protocol)
            prediction = radiological_view(volume[:, :, k], affine)
            dagger = " †" if record.get("deviations") else ""
            title = f"{record['pipeline']}{dagger}\n({rule} {threshold:.2g})"
            panels.append((title, prediction, prediction >= threshold))
        for col, (title, picture, contour) in enumerate(panels):
            axes = figure.add_subplot(len(chosen), columns, row * columns + col + 1)
            axes.imshow(picture, cmap="gray" if col < 2 else "inferno", vmin=None if col < 2 else 0.0)
            if contour is not None and contour.any():
                axes.contour(
                    contour.astype(float), levels=[0.5], colors=["#00e676" if col == 1 else "#00b0ff"], linewidths=0.8
                )
            axes.set_xticks([])
            axes.set_yticks([])
            if row == 0:
                axes.set_title(title, fontsize=7)
            if col == 0:
                axes.set_ylabel(f"{case_id} k={k}", fontsize=7)
    departing = sum(1 for record in finished if record.get("deviations"))
    caption = f"; † = not the published method ({departing} of {len(finished)}; reasons in summary.md)"
    figure.suptitle(f"{dataset.name}, test patients, seed {seed}" + (caption if departing else ""), fontsize=9)
    _save(figure, path)
    return True
