"""Whether a benchmark row may stand plainly beside the paper's number, and why not.

A row's deviations are its jobs' own (what each plugin and the core reported, see
:mod:`wsad_core.deviations`) plus what only the benchmark knows: which plugin stands in for
the published one in each role, the dataset's modality against the paper row's, and whether
the data are the paper's. Where a paper number is printed, the evaluation itself must match
the paper's too (protocol, threshold rule, frame). Only a row without any of these is
comparable.
"""

from __future__ import annotations

from collections.abc import Iterable

from wsad_core.bench.config import BenchDataset, BenchPipeline
from wsad_core.bench.paper import PAPER_PROTOCOL, PUBLISHED_PIPELINES, paper_rows
from wsad_core.deviations import Deviation, merge_deviations

__all__ = ["BENCH", "pipeline_deviations", "protocol_deviations"]

#: ``source`` of the deviations the benchmark adds.
BENCH = "bench"
_ROLES = ("generator", "refiner", "segmenter")


def _paper_modality(method: str, paper_dataset: str, table: int = 1) -> str | None:
    found = next(
        (r.modality for r in paper_rows() if (r.table, r.method, r.dataset) == (table, method, paper_dataset)), None
    )
    return found.lower() if found else None


def pipeline_deviations(pipeline: BenchPipeline, dataset: BenchDataset) -> list[Deviation]:
    """The benchmark's deviations of ``pipeline`` on ``dataset`` against its paper row (none without one)."""
    method = pipeline.paper_method()
    if pipeline.reference_only or not method or not dataset.paper_dataset:
        return []
    if _paper_modality(method, dataset.paper_dataset, pipeline.paper_table) is None:
        return []  # no published number for this row: nothing it could be compared with
    found = []
    published = PUBLISHED_PIPELINES.get(method)
    if published is not None:
        for role, wanted in zip(_ROLES, published, strict=True):
            stage = getattr(pipeline, role)
            used = stage.name if stage is not None else None
            if used != wanted:
                found.append(
                    Deviation(
                        kind="substitute", what=role, used=used or "none", published=wanted or "none", source=BENCH
                    )
                )
    modality = _paper_modality(method, dataset.paper_dataset, pipeline.paper_table)
    used_modality = "+".join(dataset.modalities).lower()
    if modality is not None and used_modality != modality:
        found.append(Deviation(kind="modality", what="modality", used=used_modality, published=modality, source=BENCH))
    if not dataset.same_as_paper:
        found.append(
            Deviation(
                kind="data",
                what="dataset",
                used=f"{dataset.name} ({dataset.source})",
                published=f"{dataset.paper_dataset}, the paper's split",
                source=BENCH,
            )
        )
    return found


def protocol_deviations(protocol: str, threshold_rule: str, frame: str | None) -> list[Deviation]:
    """How an evaluation differs from the one behind the paper's numbers (rasalore.md §10)."""
    found = []
    for what, used, published in (
        ("protocol", protocol, PAPER_PROTOCOL.protocol),
        ("threshold", threshold_rule, PAPER_PROTOCOL.threshold_rule),
        ("frame", frame or "unknown", PAPER_PROTOCOL.frame),
    ):
        if used != published:
            found.append(Deviation(kind="protocol", what=what, used=used, published=published, source=BENCH))
    return found


def combined(*groups: Iterable[Deviation]) -> list[Deviation]:
    """Every deviation of ``groups`` once, ordered by kind."""
    return merge_deviations(*groups)
