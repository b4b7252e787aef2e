"""Hook implementations: one generator and one segmenter, registered through the ``wsad`` entry point."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from wsad_core import (
    BuildContext,
    GeneratorSpec,
    IOContract,
    Label,
    MaskSet,
    ScoreMaps,
    SegmenterSpec,
    SliceSet,
    hookimpl,
)


class BrightOptions(BaseModel):
    """Options of the template generator (defaults = your published configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    quantile: float = Field(0.98, gt=0, lt=1, description="Brain-intensity quantile of healthy slices flagged.")
    smoothing: float = Field(1.0, ge=0, description="Gaussian smoothing of the map, in pixels.")


class BrightGenerator:
    """Flags pixels brighter than a quantile of the healthy training slices."""

    def __init__(self, options: BrightOptions, context: BuildContext) -> None:
        self.options, self.level = options, 1.0

    def fit(self, train: SliceSet, *, validation: SliceSet | None = None) -> None:
        """Learn the intensity level from slices labelled healthy (the only supervision)."""
        healthy = train.where_label(Label.HEALTHY)
        pixels = train.images[healthy, 0][train.brain_masks[healthy]]
        self.level = float(np.quantile(pixels, self.options.quantile))

    def generate(self, slices: SliceSet) -> MaskSet:
        """A soft map in [0, 1] (0.5 at the level) and its binary mask, inside the brain."""
        sigma = (0, self.options.smoothing, self.options.smoothing)
        image = ndimage.gaussian_filter(slices.images[:, 0], sigma=sigma)
        soft = np.clip((image - self.level) / max(1e-6, 1.0 - self.level) + 0.5, 0, 1).astype(np.float32)
        soft *= slices.brain_masks
        return MaskSet(soft=soft, masks=soft >= 0.5, source="template-bright")


class NoOptions(BaseModel):
    """The template segmenter has no options."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SmoothSegmenter:
    """A sigmoid of intensity around the mean intensity inside the pseudo-masks (no network)."""

    def __init__(self, options: NoOptions, context: BuildContext) -> None:
        self.level = 0.5

    def fit(
        self,
        train: SliceSet,
        pseudo_masks: MaskSet | None,
        *,
        validation: SliceSet | None = None,
        validation_masks: MaskSet | None = None,
    ) -> None:
        """Learn the lesion intensity from the pseudo-masks."""
        inside = train.images[:, 0][pseudo_masks.masks] if pseudo_masks is not None else np.empty(0)
        self.level = float(inside.mean()) if inside.size else 0.5

    def predict(self, slices: SliceSet) -> ScoreMaps:
        """Probabilities in [0, 1], zero outside the brain."""
        score = 1.0 / (1.0 + np.exp(-20.0 * (slices.images[:, 0] - 0.8 * self.level)))
        return ScoreMaps((score * slices.brain_masks).astype(np.float32), "probability")


@hookimpl
def wsad_register_generators() -> list[GeneratorSpec]:
    """The template generator."""
    return [
        GeneratorSpec(
            name="template-bright",
            summary="Template: bright pixels vs healthy slices.",
            options=BrightOptions,
            factory=BrightGenerator,
            citation="Your paper (2026)",
        )
    ]


@hookimpl
def wsad_register_segmenters() -> list[SegmenterSpec]:
    """The template segmenter."""
    return [
        SegmenterSpec(
            name="template-smooth",
            summary="Template: intensity sigmoid fitted on pseudo-masks.",
            options=NoOptions,
            factory=SmoothSegmenter,
            io=IOContract(output_kind="probability"),
        )
    ]
