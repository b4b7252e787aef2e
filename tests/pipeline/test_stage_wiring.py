"""How stages hand masks to each other: refined masks keep their upstream, prompted segmenters get test masks."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict
from scipy import ndimage

from tests.pipeline.conftest import make_config
from wsad_core import MaskSet, PluginHost, RefinerSpec, ScoreMaps, SegmenterSpec, hookimpl
from wsad_core.pipeline import run_pipeline


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dilate:
    def __init__(self, options, context):
        pass

    def refine(self, slices, masks):
        grown = np.stack([ndimage.binary_dilation(m, iterations=1) for m in masks.masks])
        return MaskSet(grown.astype(np.float32), grown, "dilate")


SEEN: dict[str, object] = {}


class Recorder:
    """Trains on nothing; records what it was given and predicts the prompt masks."""

    def __init__(self, options, context):
        pass

    def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
        SEEN["train_masks"] = pseudo_masks

    def predict(self, slices, pseudo_masks=None):
        SEEN.setdefault("prompts", []).append(pseudo_masks)
        return ScoreMaps(pseudo_masks.soft.copy(), "probability")


class Plugin:
    @hookimpl
    def wsad_register_refiners(self):
        return [RefinerSpec(name="dilate", summary="Dilate masks.", options=NoOptions, factory=Dilate)]

    @hookimpl
    def wsad_register_segmenters(self):
        return [
            SegmenterSpec(
                name="recorder",
                summary="Echo prompts.",
                options=NoOptions,
                factory=Recorder,
                prompted_by_pseudo_masks=True,
            )
        ]


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(disabled=())
    host.register(Plugin(), name="wiring-test")
    return host


def test_refined_masks_carry_the_generators_masks(phantom_dataset, tmp_path, host):
    SEEN.clear()
    config = make_config(phantom_dataset, tmp_path / "run", generator="zscore", refiner="dilate", segmenter="recorder")
    run_pipeline(config, host)
    refined = SEEN["train_masks"]
    assert isinstance(refined, MaskSet)
    assert refined.upstream is not None
    assert refined.source == "zscore+dilate"
    assert refined.upstream.source == "zscore"
    # Dilation only grows masks, and it did grow some.
    assert not (refined.upstream.masks & ~refined.masks).any()
    assert refined.masks.sum() > refined.upstream.masks.sum()


def test_prompted_segmenter_gets_masks_of_the_slices_it_predicts(phantom_dataset, tmp_path, host):
    SEEN.clear()
    config = make_config(phantom_dataset, tmp_path / "run", generator="zscore", segmenter="recorder")
    outcome = run_pipeline(config, host)
    prompts = SEEN["prompts"]
    assert len(prompts) == 2, "test and validation slices"
    assert all(isinstance(p, MaskSet) and len(p) > 0 for p in prompts)
    assert outcome.error is None
