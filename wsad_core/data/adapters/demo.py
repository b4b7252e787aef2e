"""Adapter ``demo``: the embedded synthetic dataset, generated on first use (no download).

The root is a cache folder: missing cases are generated there atomically (see
:mod:`wsad_core.data.synthetic`), then indexed. ``wsad ... demo`` uses
``<cache>/demo/<options hash>``; any empty folder works too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wsad_core.data._anatomy import MNI_SOURCE
from wsad_core.data._demo import DEMO_DESCRIPTION, DEMO_FILES, DEMO_MANIFEST, ensure_demo_dataset
from wsad_core.data.index import CaseRecord, DatasetIndex, VolumeRef
from wsad_core.specs import DatasetSpec

__all__ = ["NAME", "DemoOptions", "index_demo", "spec"]

NAME = "demo"


class DemoOptions(BaseModel):
    """Options of the ``demo`` adapter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cases: int = Field(10, ge=2, le=500, description="Number of synthetic subjects.")
    resolution: Literal[1, 2] = Field(
        2, description="Voxel size in mm of the MNI152 template (2 keeps the demo fast on CPU)."
    )
    seed: int = Field(0, ge=0, description="Seed of the subjects; case i is drawn from (seed, i).")


def index_demo(options: DemoOptions, root: Path) -> DatasetIndex:
    """Generate the missing demo cases under ``root`` and index them.

    Args:
        options: number of cases, resolution and seed.
        root: the cache folder for this dataset (created if missing).

    Returns:
        A synthetic index with ``flair`` and ``t1`` images and exact lesion masks.
    """
    folders = ensure_demo_dataset(root, cases=options.cases, resolution=options.resolution, seed=options.seed)
    cases = [
        CaseRecord(
            case_id=folder.name,
            images={m: VolumeRef(folder / DEMO_FILES[m]) for m in ("flair", "t1")},
            mask=VolumeRef(folder / DEMO_FILES["seg"]),
            meta={"subject": f"synthetic-{options.seed}-{index}"},
        )
        for index, folder in enumerate(folders)
    ]
    return DatasetIndex(name=NAME, root=root, cases=tuple(cases), synthetic=True, description=DEMO_DESCRIPTION)


def _detect(root: Path) -> bool:
    """A folder holding the demo manifest."""
    return (root / DEMO_MANIFEST).is_file()


spec = DatasetSpec(
    name=NAME,
    summary="Embedded synthetic dataset: lesions drawn into the MNI152 template (no download, not patient data).",
    options=DemoOptions,
    factory=index_demo,
    detect=_detect,
    citation=f"{MNI_SOURCE}: Fonov et al., NeuroImage 2011",
    license="MNI152 template licence (nilearn distribution)",
)
