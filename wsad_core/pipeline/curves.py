"""Report-only learning curves: validation Dice against ground truth per epoch, never seen by the plugin.

A trainable plugin that wants its curve drawn hands, after each epoch, the maps of the
validation slices it was given to ``fit`` to ``BuildContext.learning_curve`` together with
values of its own (training loss, Dice against the validation pseudo-masks: what selection may
use). The core scores the maps against the validation patients' pixel ground truth (the
per-slice rule of :class:`~wsad_core.pipeline.selection.ValidationDice`) and writes one row
per epoch to ``learning_curve.csv`` in the run directory, and a plot at the end. The call
returns nothing, so the ground-truth curve cannot steer training or selection: the rows stay
``selection`` as the plugin chose. Enabled with ``-o output.learning_curves=true``; it costs one
prediction of the validation slices per epoch.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wsad_core._atomic import atomic_write_text
from wsad_core.pipeline.selection import ValidationDice

if TYPE_CHECKING:
    from wsad_core.data.assemble import SplitSlices
    from wsad_core.types import ScoreMaps

__all__ = ["CURVE_FILE", "LearningCurve", "plot_learning_curve", "read_learning_curve"]

log = logging.getLogger("wsad.curves")

CURVE_FILE = "learning_curve.csv"
_FIXED = ("stage", "epoch", "dice_ground_truth")


class LearningCurve:
    """Scores a stage's validation maps against ground truth each epoch and keeps the rows on disk.

    Args:
        path: the CSV file (rows of earlier, interrupted runs are kept and replaced by epoch).
        validation: the validation split.
        positions: the validation slices handed to ``fit``, in that order.
        min_lesion_pixels: slices with at most this many lesion pixels are not scored.
        stage: the stage label written on every row (e.g. ``segmenter/rasalore``).
    """

    def __init__(
        self, path: Path, validation: SplitSlices, positions: np.ndarray, min_lesion_pixels: int, stage: str
    ) -> None:
        self.path, self.stage = Path(path), stage
        self._score = ValidationDice(validation, positions, min_lesion_pixels)
        self._rows = read_learning_curve(self.path)

    def __call__(self, epoch: int, maps: ScoreMaps, values: Mapping[str, float] | None = None) -> None:
        """Record ``epoch`` (0-based): the Dice of ``maps`` against ground truth and the plugin's ``values``."""
        dice = self._score(maps)
        row: dict[str, object] = {"stage": self.stage, "epoch": int(epoch), "dice_ground_truth": dice}
        row.update({str(k): float(v) for k, v in (values or {}).items() if str(k) not in _FIXED})
        self._rows = [r for r in self._rows if (r["stage"], int(r["epoch"])) != (self.stage, int(epoch))]
        self._rows.append(row)
        self._rows.sort(key=lambda r: (str(r["stage"]), int(r["epoch"])))
        _write(self.path, self._rows)
        log.info("learning curve %s epoch %d: validation Dice against ground truth %.4f", self.stage, epoch + 1, dice)


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    extra = sorted({key for row in rows for key in row} - set(_FIXED))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*_FIXED, *extra], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(row.get(key)) for key in (*_FIXED, *extra)})
    atomic_write_text(path, buffer.getvalue())


def _cell(value: object) -> object:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6f}"
    return "" if value is None else value


def read_learning_curve(path: Path) -> list[dict[str, object]]:
    """The rows of a ``learning_curve.csv`` (numbers as floats, ``epoch`` as int); none if absent."""
    path = Path(path)
    if not path.is_file():
        return []
    rows: list[dict[str, object]] = []
    with path.open(newline="") as handle:
        for raw in csv.DictReader(handle):
            row: dict[str, object] = {"stage": raw["stage"], "epoch": int(raw["epoch"])}
            for key, value in raw.items():
                if key not in ("stage", "epoch"):
                    row[key] = float(value) if value not in ("", None) else float("nan")
            rows.append(row)
    return rows


def plot_learning_curve(csv_path: Path, png_path: Path, title: str = "") -> Path | None:
    """One panel per stage: every Dice column of the CSV over epochs; ``None`` when there are no rows."""
    rows = read_learning_curve(csv_path)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = sorted({str(r["stage"]) for r in rows})
    figure, axes = plt.subplots(1, len(stages), figsize=(5.5 * len(stages), 3.6), squeeze=False)
    for axis, stage in zip(axes[0], stages, strict=True):
        mine = [r for r in rows if r["stage"] == stage]
        epochs = [int(r["epoch"]) + 1 for r in mine]
        columns = [k for k in mine[0] if k not in ("stage", "epoch") and "dice" in k]
        for column in columns:
            label = column.replace("_", " ") + (" (report only)" if column == "dice_ground_truth" else "")
            axis.plot(epochs, [float(r.get(column, math.nan)) for r in mine], marker="o", ms=3, label=label)  # type: ignore[arg-type]
        axis.set(xlabel="epoch", ylabel="validation per-slice Dice at 0.5", title=stage, ylim=(0, 1))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    png_path = Path(png_path)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    from wsad_core._atomic import atomic_write_bytes

    atomic_write_bytes(png_path, buffer.getvalue())
    return png_path
