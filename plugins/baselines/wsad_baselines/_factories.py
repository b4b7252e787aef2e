"""Factories named by the specs; they import torch and MONAI only when a run builds a method."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from wsad_baselines.ae import AESegmenter
    from wsad_baselines.amecam import AmeCamGenerator
    from wsad_baselines.config import UNetOptions, ZScoreOptions
    from wsad_baselines.config_amecam import AmeCamOptions
    from wsad_baselines.config_patch2loc import Patch2LocOptions
    from wsad_baselines.config_recon import AEOptions, DAEOptions
    from wsad_baselines.dae import DAESegmenter
    from wsad_baselines.patch2loc import Patch2LocSegmenter
    from wsad_baselines.unet import UNetSegmenter
    from wsad_baselines.zscore import ZScoreGenerator
    from wsad_core import BuildContext

__all__ = [
    "build_ae",
    "build_ame_cam",
    "build_dae",
    "build_patch2loc",
    "build_unet",
    "build_zscore",
    "load_ae",
    "load_dae",
    "load_patch2loc",
    "load_unet",
    "load_zscore",
]


def build_zscore(options: ZScoreOptions, context: BuildContext) -> ZScoreGenerator:
    """The ``zscore`` generator for ``options``."""
    from wsad_baselines.zscore import ZScoreGenerator

    return ZScoreGenerator(options, context)


def load_zscore(path: Path, context: BuildContext) -> ZScoreGenerator:
    """A fitted ``zscore`` generator from the file its ``save`` wrote."""
    from wsad_baselines.zscore import ZScoreGenerator

    return ZScoreGenerator.load(path, context)


def load_unet(path: Path, context: BuildContext) -> UNetSegmenter:
    """A trained ``unet`` segmenter from the file its ``save`` wrote."""
    from wsad_baselines.unet import UNetSegmenter

    return UNetSegmenter.load(path, context)


def build_unet(options: UNetOptions, context: BuildContext) -> UNetSegmenter:
    """The ``unet`` segmenter for ``options``."""
    from wsad_baselines.unet import UNetSegmenter

    return UNetSegmenter(options, context)


def build_ame_cam(options: AmeCamOptions, context: BuildContext) -> AmeCamGenerator:
    """The ``ame-cam`` generator for ``options``."""
    from wsad_baselines.amecam import AmeCamGenerator

    return AmeCamGenerator(options, context)


def build_ae(options: AEOptions, context: BuildContext) -> AESegmenter:
    """The ``ae`` segmenter for ``options``."""
    from wsad_baselines.ae import AESegmenter

    return AESegmenter(options, context)


def build_dae(options: DAEOptions, context: BuildContext) -> DAESegmenter:
    """The ``dae`` segmenter for ``options``."""
    from wsad_baselines.dae import DAESegmenter

    return DAESegmenter(options, context)


def load_ae(path: Path, context: BuildContext) -> AESegmenter:
    """A trained ``ae`` segmenter from the file its ``save`` wrote."""
    from wsad_baselines.ae import AESegmenter

    return AESegmenter.load(path, context)  # type: ignore[return-value]


def load_dae(path: Path, context: BuildContext) -> DAESegmenter:
    """A trained ``dae`` segmenter from the file its ``save`` wrote."""
    from wsad_baselines.dae import DAESegmenter

    return DAESegmenter.load(path, context)  # type: ignore[return-value]


def build_patch2loc(options: Patch2LocOptions, context: BuildContext) -> Patch2LocSegmenter:
    """The ``patch2loc`` segmenter for ``options``."""
    from wsad_baselines.patch2loc import Patch2LocSegmenter

    return Patch2LocSegmenter(options, context)


def load_patch2loc(path: Path, context: BuildContext) -> Patch2LocSegmenter:
    """A trained ``patch2loc`` segmenter from the file its ``save`` wrote."""
    from wsad_baselines.patch2loc import Patch2LocSegmenter

    return Patch2LocSegmenter.load(path, context)  # type: ignore[return-value]
