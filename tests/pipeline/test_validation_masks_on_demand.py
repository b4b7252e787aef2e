"""Validation pseudo-masks are made only when the segmenter reads them (a MedSAM refiner's largest cost)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tests.pipeline.conftest import make_config
from wsad_core import MaskSet, PluginHost, RefinerSpec, ScoreMaps, SegmenterSpec, hookimpl
from wsad_core.pipeline import run_pipeline


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SelectionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    selection: Literal["last", "on-pseudo-masks"] = Field("last", description="Checkpoint rule.")


REFINED: list[int] = []
GIVEN: dict[str, object] = {}


class CountingRefiner:
    """Returns its input; records how many slices each call refined."""

    def __init__(self, options, context):
        pass

    def refine(self, slices, masks):
        REFINED.append(len(slices))
        return MaskSet(masks.soft.copy(), masks.masks.copy(), "counted")


class Recorder:
    def __init__(self, options, context):
        pass

    def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
        GIVEN["train"] = pseudo_masks
        GIVEN["validation"] = validation_masks

    def predict(self, slices):
        return ScoreMaps(np.zeros((len(slices), *slices.spatial_shape), np.float32), "probability")


def _reads(options: SelectionOptions) -> bool:
    return options.selection == "on-pseudo-masks"


class Plugin:
    @hookimpl
    def wsad_register_refiners(self):
        return [RefinerSpec(name="counting", summary="Count.", options=NoOptions, factory=CountingRefiner)]

    @hookimpl
    def wsad_register_segmenters(self):
        return [
            SegmenterSpec(
                name="recorder",
                summary="Record.",
                options=SelectionOptions,
                factory=Recorder,
                uses_validation_masks=_reads,
            )
        ]


def _run(config) -> None:
    REFINED.clear()
    GIVEN.clear()
    assert run_pipeline(config, HOST).error is None


HOST = PluginHost(disabled=())
HOST.register(Plugin(), name="on-demand-test")


def test_validation_slices_are_refined_only_when_the_segmenter_reads_their_masks(phantom_dataset, tmp_path):
    _run(make_config(phantom_dataset, tmp_path / "last", generator="zscore", refiner="counting", segmenter="recorder"))
    without = list(REFINED)
    assert GIVEN["validation"] is None
    assert isinstance(GIVEN["train"], MaskSet)
    assert GIVEN["train"].masks.any()

    reads = ("recorder", {"selection": "on-pseudo-masks"})
    _run(make_config(phantom_dataset, tmp_path / "sel", generator="zscore", refiner="counting", segmenter=reads))
    assert isinstance(GIVEN["validation"], MaskSet)
    assert GIVEN["validation"].masks.any(), "the validation patients' anomalous slices got masks"
    # The same calls plus one for the validation patients' anomalous slices.
    assert len(REFINED) == len(without) + 1
    assert sum(REFINED) > sum(without)


def test_learning_curves_keep_the_validation_masks(phantom_dataset, tmp_path):
    config = make_config(phantom_dataset, tmp_path / "c", generator="zscore", refiner="counting", segmenter="recorder")
    _run(config.model_copy(update={"output": config.output.model_copy(update={"learning_curves": True})}))
    assert isinstance(GIVEN["validation"], MaskSet)
