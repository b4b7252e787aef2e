"""Factories and loaders named by the specs; torch and MONAI are imported only when a run builds a method."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from wsad_core import BuildContext
    from wsad_diffusion.cddpm import CDDPMSegmenter
    from wsad_diffusion.config import DDPMOptions, MDDPMOptions, PDDPMOptions
    from wsad_diffusion.config_cddpm import CDDPMOptions
    from wsad_diffusion.config_sadm import SADMOptions
    from wsad_diffusion.sadm import SADMSegmenter
    from wsad_diffusion.segmenter import DDPMSegmenter

__all__ = [
    "build_cddpm",
    "build_ddpm",
    "build_mddpm",
    "build_pddpm",
    "build_sadm",
    "build_sadm_res",
    "load_cddpm",
    "load_ddpm",
    "load_mddpm",
    "load_pddpm",
    "load_sadm",
    "load_sadm_res",
]


def build_ddpm(options: DDPMOptions, context: BuildContext) -> DDPMSegmenter:
    """The ``ddpm`` segmenter for ``options``."""
    from wsad_diffusion.segmenter import DDPMSegmenter

    return DDPMSegmenter(options, context)


def build_pddpm(options: PDDPMOptions, context: BuildContext) -> DDPMSegmenter:
    """The ``pddpm`` segmenter for ``options``."""
    from wsad_diffusion.segmenter import PDDPMSegmenter

    return PDDPMSegmenter(options, context)


def build_mddpm(options: MDDPMOptions, context: BuildContext) -> DDPMSegmenter:
    """The ``mddpm`` segmenter for ``options``."""
    from wsad_diffusion.segmenter import MDDPMSegmenter

    return MDDPMSegmenter(options, context)


def load_ddpm(path: Path, context: BuildContext) -> DDPMSegmenter:
    """A trained ``ddpm`` from the file its ``save`` wrote."""
    from wsad_diffusion.segmenter import DDPMSegmenter

    return DDPMSegmenter.load(path, context)  # type: ignore[return-value]


def load_pddpm(path: Path, context: BuildContext) -> DDPMSegmenter:
    """A trained ``pddpm`` from the file its ``save`` wrote."""
    from wsad_diffusion.segmenter import PDDPMSegmenter

    return PDDPMSegmenter.load(path, context)  # type: ignore[return-value]


def load_mddpm(path: Path, context: BuildContext) -> DDPMSegmenter:
    """A trained ``mddpm`` from the file its ``save`` wrote."""
    from wsad_diffusion.segmenter import MDDPMSegmenter

    return MDDPMSegmenter.load(path, context)  # type: ignore[return-value]


def build_cddpm(options: CDDPMOptions, context: BuildContext) -> CDDPMSegmenter:
    """The ``cddpm`` segmenter for ``options``."""
    from wsad_diffusion.cddpm import CDDPMSegmenter

    return CDDPMSegmenter(options, context)


def load_cddpm(path: Path, context: BuildContext) -> CDDPMSegmenter:
    """A trained ``cddpm`` (encoder and UNet) from the file its ``save`` wrote."""
    from wsad_diffusion.cddpm import CDDPMSegmenter

    return CDDPMSegmenter.load(path, context)  # type: ignore[return-value]


def build_sadm(options: SADMOptions, context: BuildContext) -> SADMSegmenter:
    """The ``sadm`` segmenter for ``options`` (stage I is built through ``context.stage`` when it trains)."""
    from wsad_diffusion.sadm import SADMSegmenter

    return SADMSegmenter(options, context)


def build_sadm_res(options: SADMOptions, context: BuildContext) -> SADMSegmenter:
    """The ``sadm_res`` segmenter for ``options``."""
    from wsad_diffusion.sadm import SADMResSegmenter

    return SADMResSegmenter(options, context)


def load_sadm(path: Path, context: BuildContext) -> SADMSegmenter:
    """A trained ``sadm`` (both stages) from the file its ``save`` wrote."""
    from wsad_diffusion.sadm import SADMSegmenter

    return SADMSegmenter.load(path, context)


def load_sadm_res(path: Path, context: BuildContext) -> SADMSegmenter:
    """A trained ``sadm_res`` (both stages) from the file its ``save`` wrote."""
    from wsad_diffusion.sadm import SADMResSegmenter

    return SADMResSegmenter.load(path, context)
