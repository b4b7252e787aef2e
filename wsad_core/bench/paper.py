"""The RASALoRE paper's published numbers (Tables 1 and 2), shown beside ours as references.

Source: Sharma, Jaganathan, Palaniappan, "RASALoRE", BMVC 2025 (arXiv 2510.08052v2),
Tables 1–2: Dice and AUPRC in %, per-slice protocol on T2 slices of four datasets. They are
printed as labelled references; no test asserts them, and they are comparable with a wsad
row only where dataset, modality, protocol and frame match.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["PAPER", "PAPER_DATASETS", "PaperNumber", "paper_number", "paper_rows"]

PAPER = "Sharma et al., RASALoRE, BMVC 2025, Table 1 (T2, per-slice, %)"
PAPER_DATASETS = ("BraTS20", "BraTS21", "BraTS23", "MSD")


@dataclass(frozen=True, slots=True)
class PaperNumber:
    """One published row of the paper for one dataset."""

    table: int
    method: str
    modality: str
    dataset: str
    dice_pct: float
    auprc_pct: float


@cache
def paper_rows() -> tuple[PaperNumber, ...]:
    """Every published row."""
    text = resources.files("wsad_core.bench").joinpath("data/paper_tables.csv").read_text(encoding="utf-8")
    return tuple(
        PaperNumber(
            int(r["table"]), r["method"], r["modality"], r["dataset"], float(r["dice_pct"]), float(r["auprc_pct"])
        )
        for r in csv.DictReader(text.splitlines())
    )


def paper_number(method: str, dataset: str, table: int = 1) -> PaperNumber | None:
    """The paper's row for ``method`` on ``dataset`` (Table 1 by default), if published."""
    return next((r for r in paper_rows() if (r.table, r.method, r.dataset) == (table, method, dataset)), None)
