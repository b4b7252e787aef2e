"""A segmenter that accepts pseudo-masks (SegmenterSpec.accepts_pseudo_masks) and builds a stage through its context."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from tests.pipeline.conftest import make_config
from wsad_core import MaskSet, PluginHost, ScoreMaps, SegmenterSpec, hookimpl
from wsad_core.pipeline import run_pipeline


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SEEN: dict[str, object] = {}


class Accepting:
    """Records the pseudo-masks it gets and builds the zscore generator as its inner stage."""

    def __init__(self, options, context):
        self.context = context

    def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
        SEEN["train_masks"] = pseudo_masks
        SEEN["validation_masks"] = validation_masks
        SEEN["inner"] = self.context.stage("generator", "zscore", {})
        SEEN["inner_exists"] = (self.context.work_dir / "stage-zscore").is_dir()

    def predict(self, slices):
        return ScoreMaps(slices.images[:, 0].copy(), "probability")


class Plugin:
    @hookimpl
    def wsad_register_segmenters(self):
        return [
            SegmenterSpec(
                name="optional",
                summary="Accepts pseudo-masks.",
                options=NoOptions,
                factory=Accepting,
                needs_pseudo_masks=False,
                accepts_pseudo_masks=True,
            )
        ]


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(disabled=())
    host.register(Plugin(), name="optional-test")
    return host


@pytest.mark.parametrize("generator", [None, "zscore"])
def test_pseudo_masks_reach_an_accepting_segmenter_only_with_a_generator(phantom_dataset, tmp_path, host, generator):
    SEEN.clear()
    stages = {"segmenter": "optional"} | ({"generator": generator} if generator else {})
    outcome = run_pipeline(make_config(phantom_dataset, tmp_path / "run", **stages), host)
    assert outcome.error is None
    if generator is None:
        assert SEEN["train_masks"] is None, "unsupervised without a generator"
    else:
        masks = SEEN["train_masks"]
        assert isinstance(masks, MaskSet)
        assert masks.source == "zscore"
        assert np.any(masks.masks)
    assert hasattr(SEEN["inner"], "generate"), "the runner's context builds other plugins (BuildContext.stage)"
    assert SEEN["inner_exists"]
