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

__all__ = [
    "PAPER",
    "PAPER_DATASETS",
    "PAPER_PROTOCOL",
    "PUBLISHED_PIPELINES",
    "PaperNumber",
    "PaperProtocol",
    "paper_number",
    "paper_rows",
]

PAPER = "Sharma et al., RASALoRE, BMVC 2025, Table 1 (T2, per-slice, %)"
PAPER_DATASETS = ("BraTS20", "BraTS21", "BraTS23", "MSD")


@dataclass(frozen=True, slots=True)
class PaperProtocol:
    """How the paper's numbers were computed (rasalore.md §10): what a row must match to be comparable."""

    protocol: str = "per-slice"
    threshold_rule: str = "fixed:0.5"
    frame: str = "crop256"


#: The official test.py: per anomalous slice, fixed 0.5, in the 256² crop frame.
PAPER_PROTOCOL = PaperProtocol()

#: (generator, refiner, segmenter) plugin names of the published pipeline behind each Table 1 row
#: wsad implements; a benchmark row with another plugin in a role has a ``substitute`` deviation.
PUBLISHED_PIPELINES: dict[str, tuple[str | None, str | None, str | None]] = {
    "AE": (None, None, "ae"),
    "DAE": (None, None, "dae"),
    "AME-CAM": ("ame-cam", None, None),
    "DDPT": ("ddpt", None, None),
    "MedSAM+DDPT (point)": ("ddpt", None, "medsam-point"),
    "MedSAM+DDPT (box)": ("ddpt", None, "medsam-box"),
    "RASALoRE": ("ddpt", "medsam", "rasalore"),
    "RASALoRE without MedSAM": ("ddpt", None, "rasalore"),
    # Appendix Tables 14/15 (the diffusion baselines retrained on healthy BraTS slices).
    "DDPM": (None, None, "ddpm"),
    "pDDPM": (None, None, "pddpm"),
    "cDDPM": (None, None, "cddpm"),
    "mDDPM": (None, None, "mddpm"),
}


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
