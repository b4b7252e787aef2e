"""The conformance suite's label-hiding and learning checks fail the plugins they are meant to catch."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from wsad_core import GeneratorSpec, MaskSet, PluginHost, ScoreMaps, SegmenterSpec, hookimpl
from wsad_core.testing import toy_batch
from wsad_core.testing._checks import LabelSpy, check_learns, lesion_auroc, revealed
from wsad_core.types import Label


class _NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Constant:
    def __init__(self, options, context):
        pass

    def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
        pass

    def predict(self, slices):
        return ScoreMaps(np.full(slices.images[:, 0].shape, 0.3, np.float32), "probability")


class _Bright:
    def __init__(self, options, context):
        pass

    def fit(self, train, *, validation=None):
        pass

    def generate(self, slices):
        soft = np.clip(slices.images[:, 0], 0, 1).astype(np.float32)
        return MaskSet(soft, soft > 0.7, "bright")


class _PeeksAtLabels(_Bright):
    """Empties the maps of slices it is told are healthy: only possible if labels reach it."""

    def generate(self, slices):
        out = super().generate(slices)
        healthy = slices.labels == Label.HEALTHY
        soft = out.soft.copy()
        soft[healthy] = 0.0
        return MaskSet(soft, soft > 0.7, "peek")


class _Plugins:
    @hookimpl
    def wsad_register_generators(self):
        return [
            GeneratorSpec(name="toy-bright", summary="t", options=_NoOptions, factory=_Bright, version="1"),
            GeneratorSpec(name="toy-peek", summary="t", options=_NoOptions, factory=_PeeksAtLabels, version="1"),
        ]

    @hookimpl
    def wsad_register_segmenters(self):
        return [SegmenterSpec(name="toy-constant", summary="t", options=_NoOptions, factory=_Constant, version="1")]


@pytest.fixture
def host(wsad_isolated_host: PluginHost) -> PluginHost:
    wsad_isolated_host.register(_Plugins(), name="toys")
    return wsad_isolated_host


def test_a_constant_map_fails_the_learning_check(host, tmp_path):
    batch = toy_batch(n_train=8, n_test=8, size=32, seed=1)
    with pytest.raises(AssertionError, match="not above the declared floor"):
        check_learns(host, "segmenter", "toy-constant", {}, batch, tmp_path / "c", floor=0.55)
    assert check_learns(host, "generator", "toy-bright", {}, batch, tmp_path / "b", floor=0.9) > 0.9


def test_a_floor_at_or_below_chance_is_refused(host, tmp_path):
    batch = toy_batch(n_train=4, n_test=4, size=32)
    with pytest.raises(ValueError, match="chance"):
        check_learns(host, "generator", "toy-bright", {}, batch, tmp_path, floor=0.5)


def test_lesion_auroc_is_chance_for_a_constant_map():
    batch = toy_batch(n_train=4, n_test=8, size=32)
    constant = np.zeros(batch.test_truth.shape, np.float32)
    assert lesion_auroc(constant, batch.test_truth, batch.test.brain_masks) == 0.5


def test_a_plugin_that_uses_test_labels_changes_its_output_when_they_are_shown(host, tmp_path):
    """What test_outputs_do_not_depend_on_test_labels compares: hidden vs shown labels."""
    batch = toy_batch(n_train=4, n_test=8, size=32)
    shown = revealed(batch.test, batch.test_truth)
    assert set(np.unique(shown.labels)) == {Label.HEALTHY, Label.ANOMALOUS}
    for name, differs in (("toy-bright", False), ("toy-peek", True)):
        spy = LabelSpy(host.create("generator", name, {}, _context(tmp_path)))
        spy.fit(batch.train)
        hidden_maps = spy.generate(batch.test).soft
        shown_maps = spy.generate(shown).soft
        assert (not np.array_equal(hidden_maps, shown_maps)) == differs
        assert [m for m, _ in spy.seen] == ["fit", "generate", "generate"]
        assert (spy.seen[1][1] == Label.UNKNOWN).all()


def _context(tmp_path):
    from wsad_core.context import BuildContext

    return BuildContext(work_dir=tmp_path)
