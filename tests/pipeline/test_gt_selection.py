"""BuildContext.validation_dice: GT-based selection without handing masks to the plugin, and always said on the row."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, Field

from tests.pipeline.conftest import make_config
from wsad_core import PluginHost, ScoreMaps, SegmenterSpec, hookimpl
from wsad_core.pipeline import run_pipeline
from wsad_core.results import read_summary

SCORES: list[float] = []


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    use_ground_truth: bool = Field(False, description="Select with context.validation_dice.")


class Selecting:
    """Two 'epochs': an empty map and the pseudo-masks' soft maps; keeps what validation_dice prefers."""

    checkpoint_selection = "best of two candidates"

    def __init__(self, options, context):
        self.options, self.context = options, context
        self.gain = 1.0

    def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
        if not self.options.use_ground_truth:
            return
        assert validation is not None
        candidates = {0.0: None, 1.0: None}
        for gain in candidates:
            maps = np.clip(validation.images[:, 0] * gain, 0, 1).astype(np.float32)
            candidates[gain] = self.context.validation_dice(ScoreMaps(maps, "probability"))
            SCORES.append(candidates[gain])
        self.gain = max(candidates, key=candidates.get)

    def predict(self, slices):
        return ScoreMaps(np.clip(slices.images[:, 0] * self.gain, 0, 1).astype(np.float32), "probability")


class Plugin:
    @hookimpl
    def wsad_register_segmenters(self):
        return [SegmenterSpec(name="selecting", summary="t", options=Options, factory=Selecting)]


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(disabled=())
    host.register(Plugin(), name="gt-selection-test")
    return host


@pytest.mark.parametrize("use", [False, True])
def test_selection_on_validation_labels_is_counted_by_the_core_and_said_on_every_row(
    phantom_dataset, tmp_path, host, use
):
    SCORES.clear()
    out = tmp_path / "run"
    config = make_config(phantom_dataset, out, generator="zscore", segmenter=("selecting", {"use_ground_truth": use}))
    run_pipeline(config, host)
    rows = read_summary(out)["rows"]
    selections = {row["selection"] for row in rows}
    assert len(selections) == 1
    (selection,) = selections
    if use:
        assert selection.startswith("segmenter: gt-val")
        assert "best of two candidates" in selection
        # The brighter map overlaps the lesions: the scorer prefers it to an empty map.
        assert SCORES[1] > SCORES[0] == 0.0
        assert "pixel labels" in " ".join(json.loads((out / "env.json").read_text())["notes"])
    else:
        assert selection == "segmenter: best of two candidates"
        assert not SCORES


def test_overlay_titles_outline_the_deviations(phantom_dataset, tmp_path, host, monkeypatch):
    import wsad_core.pipeline.outputs as outputs

    titles: list[str] = []
    real = outputs.save_overlay

    def capture(path, **kwargs):
        titles.append(kwargs["title"])
        return real(path, **kwargs)

    monkeypatch.setattr(outputs, "save_overlay", capture)
    deviation = {"kind": "weights", "what": "weights", "used": "random init", "published": "official"}
    monkeypatch.setattr(Selecting, "deviations", (deviation,), raising=False)
    run_pipeline(make_config(phantom_dataset, tmp_path / "run", generator="zscore", segmenter="selecting"), host)
    assert titles
    assert all("not the published method † weights: weights" in title for title in titles)
