"""output.learning_curves: the core scores per-epoch validation maps against ground truth, report only."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from tests.pipeline.conftest import make_config
from wsad_core import PluginHost, ScoreMaps, SegmenterSpec, hookimpl
from wsad_core.pipeline import run_pipeline
from wsad_core.pipeline.curves import read_learning_curve
from wsad_core.results import read_summary

RETURNED: list[object] = []


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Brightening:
    """Three 'epochs' whose maps are the image times 0, 0.5 and 1: a curve that must rise."""

    def __init__(self, options, context):
        self.options, self.context = options, context

    def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
        if self.context.learning_curve is None:
            return
        for epoch, gain in enumerate((0.0, 0.5, 1.0)):
            maps = np.clip(validation.images[:, 0] * gain * 2, 0, 1).astype(np.float32)
            RETURNED.append(self.context.learning_curve(epoch, ScoreMaps(maps, "probability"), {"gain": gain}))

    def predict(self, slices):
        return ScoreMaps(np.clip(slices.images[:, 0] * 2, 0, 1).astype(np.float32), "probability")


class Plugin:
    @hookimpl
    def wsad_register_segmenters(self):
        return [SegmenterSpec(name="brightening", summary="t", options=Options, factory=Brightening)]


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(disabled=())
    host.register(Plugin(), name="curve-test")
    return host


@pytest.mark.parametrize("enabled", [False, True])
def test_learning_curve_is_scored_by_the_core_and_never_counts_as_selection(phantom_dataset, tmp_path, host, enabled):
    RETURNED.clear()
    out = tmp_path / "run"
    config = make_config(phantom_dataset, out, generator="zscore", segmenter="brightening")
    config = config.model_copy(update={"output": config.output.model_copy(update={"learning_curves": enabled})})
    run_pipeline(config, host)
    rows = read_learning_curve(out / "learning_curve.csv")
    if not enabled:
        assert not rows
        assert not (out / "learning_curve.png").exists()
        return
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert {r["stage"] for r in rows} == {"segmenter/brightening"}
    assert [r["gain"] for r in rows] == [0.0, 0.5, 1.0]
    dice = [float(r["dice_ground_truth"]) for r in rows]
    assert dice[0] == 0.0  # an empty map
    assert dice[2] > 0.2  # the phantom's bright lesions
    assert RETURNED == [None, None, None]  # the plugin gets no number back
    assert (out / "learning_curve.png").stat().st_size > 1000
    selections = {row["selection"] for row in read_summary(out)["rows"]}
    assert not any("gt-val" in s for s in selections)


def test_curve_rows_of_a_resumed_stage_replace_those_of_the_same_epoch(tmp_path):
    from wsad_core.pipeline.curves import _write

    path = tmp_path / "learning_curve.csv"
    _write(path, [{"stage": "s", "epoch": 0, "dice_ground_truth": 0.25, "x": float("nan")}])
    rows = read_learning_curve(path)
    assert rows[0]["dice_ground_truth"] == 0.25
    assert np.isnan(rows[0]["x"])
