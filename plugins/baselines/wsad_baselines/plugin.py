"""Hook implementations of wsad-baselines: the reference ``zscore`` generator and ``unet`` segmenter."""

from __future__ import annotations

from wsad_baselines._factories import build_unet, build_zscore
from wsad_baselines.config import UNetOptions, ZScoreOptions
from wsad_core import GeneratorSpec, IOContract, SegmenterSpec, hookimpl

__all__ = ["wsad_register_generators", "wsad_register_segmenters"]

_LICENSE = "Apache-2.0"


@hookimpl
def wsad_register_generators() -> list[GeneratorSpec]:
    """The ``zscore`` reference generator."""
    return [
        GeneratorSpec(
            name="zscore",
            summary="Per-pixel intensity z-score against healthy-labelled training slices "
            "(reference baseline, not a published method).",
            options=ZScoreOptions,
            factory=build_zscore,
            license=_LICENSE,
            reference=True,
            io=IOContract(output_kind="probability", deterministic=True),
        )
    ]


@hookimpl
def wsad_register_segmenters() -> list[SegmenterSpec]:
    """The ``unet`` reference segmenter."""
    return [
        SegmenterSpec(
            name="unet",
            summary="Small 2-D MONAI U-Net trained on pseudo-masks with BCE + Dice "
            "(reference baseline, not a published method).",
            options=UNetOptions,
            factory=build_unet,
            license=_LICENSE,
            reference=True,
            io=IOContract(output_kind="probability", deterministic=True),
            needs_pseudo_masks=True,
        )
    ]
