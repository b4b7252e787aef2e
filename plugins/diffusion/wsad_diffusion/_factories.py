"""Factories and loaders named by the specs; torch and MONAI are imported only when a run builds a method."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from wsad_core import BuildContext
    from wsad_diffusion.config import DDPMOptions, MDDPMOptions, PDDPMOptions
    from wsad_diffusion.segmenter import DDPMSegmenter

__all__ = ["build_ddpm", "build_mddpm", "build_pddpm", "load_ddpm", "load_mddpm", "load_pddpm"]


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
