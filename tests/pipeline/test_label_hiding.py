"""The pipeline hides the image labels of test slices and of the validation slices it scores, from every role."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from tests.pipeline.conftest import TINY_UNET, make_config
from wsad_core import MaskSet, PluginHost, RefinerSpec, ScoreMaps, SegmenterSpec, hookimpl
from wsad_core.pipeline import run_pipeline
from wsad_core.types import Label, SliceSet


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Keep:
    def __init__(self, options, context):
        pass

    def refine(self, slices, masks):
        return MaskSet(masks.soft.copy(), masks.masks.copy(), "keep")


class Echo:
    def __init__(self, options, context):
        pass

    def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
        pass

    def predict(self, slices, pseudo_masks=None):
        return ScoreMaps(pseudo_masks.soft.copy(), "probability")


class Plugin:
    @hookimpl
    def wsad_register_refiners(self):
        return [RefinerSpec(name="keep", summary="Keep masks.", options=NoOptions, factory=Keep)]

    @hookimpl
    def wsad_register_segmenters(self):
        return [
            SegmenterSpec(
                name="echo", summary="Echo prompts.", options=NoOptions, factory=Echo, prompted_by_pseudo_masks=True
            )
        ]


class Spy:
    """Forwards to the plugin object and records every SliceSet it is given."""

    def __init__(self, role: str, wrapped: Any, calls: list[tuple[str, str, SliceSet]]) -> None:
        self._role, self._wrapped, self._calls = role, wrapped, calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._wrapped, name)
        if name not in ("fit", "generate", "refine", "predict"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            for value in (*args, kwargs.get("validation")):
                if isinstance(value, SliceSet):
                    self._calls.append((self._role, name, value))
            return attribute(*args, **kwargs)

        return call


@pytest.fixture
def spied(monkeypatch) -> tuple[PluginHost, list[tuple[str, str, SliceSet]]]:
    host = PluginHost(disabled=())
    host.register(Plugin(), name="hiding-test")
    calls: list[tuple[str, str, SliceSet]] = []
    create = PluginHost.create

    def spy_create(self, role, name, options, context):
        obj = create(self, role, name, options, context)
        return obj if role == "evaluator" else Spy(role, obj, calls)

    monkeypatch.setattr(PluginHost, "create", spy_create)
    # A Spy is not an instance of the role protocols' classes, but it has their methods.
    return host, calls


@pytest.mark.parametrize(
    "pipeline",
    [
        {"generator": "zscore"},
        {"generator": "zscore", "refiner": "keep", "segmenter": ("unet", TINY_UNET)},
        {"generator": "zscore", "segmenter": "echo"},
    ],
    ids=["generator-only", "generator-refiner-segmenter", "prompted-segmenter"],
)
def test_test_and_scored_validation_slices_reach_every_role_with_labels_hidden(
    phantom_dataset, tmp_path, spied, pipeline
):
    host, calls = spied
    out = tmp_path / "run"
    run_pipeline(make_config(phantom_dataset, out, **pipeline), host)
    split = json.loads((out / "split.json").read_text())
    test_patients, validation_patients = set(split["test"]), set(split["validation"])
    assert calls
    for role, method, slices in calls:
        patients = set(slices.case_ids)
        if patients & test_patients:
            assert (slices.labels == Label.UNKNOWN).all(), f"{role}.{method} saw test labels"
            assert patients <= test_patients, f"{role}.{method} got test and other slices together"
        if method == "predict":
            assert (slices.labels == Label.UNKNOWN).all(), f"{role}.predict saw labels"
        if method == "fit":
            assert not patients & test_patients
            assert (slices.labels != Label.UNKNOWN).any(), "training slices keep their image labels"
    # The validation maps behind val-best are made from hidden slices too: every validation slice once.
    scored = [
        s for _, m, s in calls if m in ("generate", "refine", "predict") and set(s.case_ids) == validation_patients
    ]
    hidden = [s for s in scored if (s.labels == Label.UNKNOWN).all()]
    assert hidden, "no hidden call produced the validation maps"
    assert max(len(s) for s in hidden) == max(len(s) for s in scored)
