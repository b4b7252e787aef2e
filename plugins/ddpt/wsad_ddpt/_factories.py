"""Factory named by the spec; torch and open_clip are imported only when a run builds the generator."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from wsad_core import BuildContext
    from wsad_ddpt.config import DDPTOptions
    from wsad_ddpt.generator import DDPTGenerator

__all__ = ["build_ddpt", "load_ddpt"]


def build_ddpt(options: DDPTOptions, context: BuildContext) -> DDPTGenerator:
    """The ``ddpt`` generator for ``options``."""
    from wsad_ddpt.generator import DDPTGenerator

    return DDPTGenerator(options, context)


def load_ddpt(path: Path, context: BuildContext) -> DDPTGenerator:
    """A trained ``ddpt`` generator from the file its ``save`` wrote (the CLIP weights are located again)."""
    from wsad_ddpt.generator import DDPTGenerator

    return DDPTGenerator.load(path, context)
