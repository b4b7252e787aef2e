"""Bad plugin output fails with a message naming the plugin and the method that produced it."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from tests.pipeline.conftest import make_config
from wsad_core import (
    ContractError,
    EvaluatorSpec,
    GeneratorSpec,
    PluginHost,
    ScoreMaps,
    SegmenterSpec,
    hookimpl,
)
from wsad_core.pipeline import run_pipeline


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Segmenter:
    """Returns what its name asks for."""

    def __init__(self, options, context, behaviour: str) -> None:
        self.behaviour = behaviour

    def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
        pass

    def predict(self, slices):
        scores = np.full((len(slices), *slices.spatial_shape), 0.5, np.float32)
        if self.behaviour == "nan":
            scores[0, 0, 0] = np.nan
            return ScoreMaps(scores, "probability")  # the core's type check fails inside predict
        if self.behaviour == "array":
            return scores
        return ScoreMaps(scores[:, :4], "probability")


class Generator:
    def __init__(self, options, context):
        pass

    def fit(self, train, *, validation=None):
        pass

    def generate(self, slices):
        return {"soft": np.zeros((len(slices), *slices.spatial_shape), np.float32)}


class Evaluator:
    def __init__(self, options, context):
        pass

    def evaluate(self, request):
        return {"dice": 1.0}


def _segmenter(behaviour: str) -> SegmenterSpec:
    return SegmenterSpec(
        name=f"bad-{behaviour}",
        summary="t",
        options=NoOptions,
        factory=lambda options, context: Segmenter(options, context, behaviour),
    )


class Plugin:
    @hookimpl
    def wsad_register_segmenters(self):
        return [_segmenter(b) for b in ("nan", "array", "shape")]

    @hookimpl
    def wsad_register_generators(self):
        return [GeneratorSpec(name="bad-dict", summary="t", options=NoOptions, factory=Generator)]

    @hookimpl
    def wsad_register_evaluators(self):
        return [EvaluatorSpec(name="bad-rows", summary="t", options=NoOptions, factory=Evaluator)]


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(disabled=())
    host.register(Plugin(), name="bad-output")
    return host


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [
        (
            {"generator": "zscore", "segmenter": "bad-nan"},
            "segmenter 'bad-nan' predict(): ScoreMaps: scores contain NaN or Inf",
        ),
        (
            {"generator": "zscore", "segmenter": "bad-array"},
            "segmenter 'bad-array' predict() returned ndarray, expected ScoreMaps",
        ),
        ({"generator": "zscore", "segmenter": "bad-shape"}, "segmenter 'bad-shape' predict() returned maps of shape"),
        ({"generator": "bad-dict"}, "generator 'bad-dict' generate() returned dict, expected a MaskSet"),
    ],
)
def test_bad_output_names_the_plugin_and_method(phantom_dataset, tmp_path, host, pipeline, expected):
    config = make_config(phantom_dataset, tmp_path / "run", **pipeline)
    with pytest.raises(ContractError) as info:
        run_pipeline(config, host)
    assert expected in str(info.value)


def test_evaluator_returning_the_wrong_type_is_named(phantom_dataset, tmp_path, host):
    config = make_config(phantom_dataset, tmp_path / "run", generator="zscore")
    config = config.model_copy(
        update={"evaluation": config.evaluation.model_copy(update={"protocols": ("per-slice", "bad-rows")})}
    )
    with pytest.raises(ContractError, match=r"evaluator 'bad-rows' evaluate\(\) returned dict, expected MetricRow"):
        run_pipeline(config, host)
