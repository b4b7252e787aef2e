"""Factories named by the specs; they import torch and MONAI only when a run builds a method."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsad_baselines.config import UNetOptions, ZScoreOptions
    from wsad_baselines.unet import UNetSegmenter
    from wsad_baselines.zscore import ZScoreGenerator
    from wsad_core import BuildContext

__all__ = ["build_unet", "build_zscore"]


def build_zscore(options: ZScoreOptions, context: BuildContext) -> ZScoreGenerator:
    """The ``zscore`` generator for ``options``."""
    from wsad_baselines.zscore import ZScoreGenerator

    return ZScoreGenerator(options, context)


def build_unet(options: UNetOptions, context: BuildContext) -> UNetSegmenter:
    """The ``unet`` segmenter for ``options``."""
    from wsad_baselines.unet import UNetSegmenter

    return UNetSegmenter(options, context)
