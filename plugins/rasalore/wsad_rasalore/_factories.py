"""Factory named by the spec; it imports torch only when a run builds the segmenter."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from wsad_core import BuildContext
    from wsad_rasalore.config import RasaloreOptions
    from wsad_rasalore.segmenter import RasaloreSegmenter

__all__ = ["build_rasalore", "load_rasalore"]


def build_rasalore(options: RasaloreOptions, context: BuildContext) -> RasaloreSegmenter:
    """The ``rasalore`` segmenter for ``options``."""
    from wsad_rasalore.segmenter import RasaloreSegmenter

    return RasaloreSegmenter(options, context)


def load_rasalore(path: Path, context: BuildContext) -> RasaloreSegmenter:
    """A trained ``rasalore`` segmenter from the file its ``save`` wrote (LoRE checked against its seeds)."""
    from wsad_rasalore.segmenter import RasaloreSegmenter

    return RasaloreSegmenter.load(path, context)
