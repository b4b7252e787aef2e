"""Thresholds chosen per protocol on the statistic it reports, and the oracle that bounds the other rules."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage

from wsad_core.config import EvaluationConfig
from wsad_core.context import BuildContext
from wsad_core.data.crop import official_crop_boxes
from wsad_core.metrics.evaluators import PerSliceOptions, PerVolumeOptions, PooledOptions
from wsad_core.metrics.threshold_search import (
    candidate_thresholds,
    dice_at_thresholds,
    protocol_dice,
    reported_dice,
    search_threshold,
)
from wsad_core.pipeline.evaluate import evaluate_maps
from wsad_core.pipeline.plan import PipelinePlan, plan_evaluation
from wsad_core.plugins import PluginHost
from wsad_core.roles import EvaluationRequest
from wsad_core.types import ReferenceSlices, ScoreMaps

SIZE = 32


def _reference(rng: np.random.Generator, n_cases: int, slices: int = 6) -> ReferenceSlices:
    masks, brains, case_ids, indices = [], [], [], []
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for case in range(n_cases):
        for k in range(slices):
            brain = (yy - 16) ** 2 + (xx - 16) ** 2 < 14**2
            radius = rng.uniform(0, 8)
            cy, cx = rng.integers(10, 22, size=2)
            lesion = ((yy - cy) ** 2 + (xx - cx) ** 2 < radius**2) & brain
            masks.append(lesion)
            brains.append(brain)
            case_ids.append(f"case{case}")
            indices.append(k + 3)
    brains_array = np.stack(brains)
    raw = brains_array * (1.0 + np.stack(masks))  # a "raw image": brighter lesions in a bright brain
    boxes = official_crop_boxes(raw, min_extent=8)
    return ReferenceSlices(np.stack(masks), brains_array, tuple(case_ids), np.asarray(indices), boxes)


def _maps(rng: np.random.Generator, reference: ReferenceSlices, kind: str) -> np.ndarray:
    signal = reference.masks.astype(np.float32) * rng.uniform(0.2, 0.9, size=(len(reference), 1, 1))
    noisy = signal + rng.normal(0, rng.uniform(0.05, 0.4), size=reference.masks.shape)
    noisy = ndimage.uniform_filter(noisy, size=(1, 3, 3)).astype(np.float32)
    if kind == "probability":
        return np.clip(noisy, 0, 1).astype(np.float32)
    return (3 * noisy - 1).astype(np.float32)  # unbounded scores, can be negative


def _split(reference: ReferenceSlices) -> SimpleNamespace:
    cases = {case: SimpleNamespace(native_shape=(SIZE, SIZE, 20)) for case in dict.fromkeys(reference.case_ids)}
    return SimpleNamespace(reference=reference, cases=cases)


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(disabled=())


def _evaluators(host: PluginHost, **protocol_options):
    config = EvaluationConfig(
        protocols=("per-slice", "pooled", "per-volume", "slice-detection"),
        protocol_options={"per-slice": {"min_lesion_pixels": 10}, **protocol_options},
        threshold_rules=("oracle", "fixed:0.5", "val-best"),
    )
    return plan_evaluation(config, host)


@pytest.mark.parametrize(
    ("protocol", "options"),
    [
        ("per-slice", PerSliceOptions(min_lesion_pixels=10)),
        ("per-slice", PerSliceOptions(min_lesion_pixels=10, region="brain")),
        ("per-slice", PerSliceOptions(min_lesion_pixels=10, frame="crop256")),
        ("pooled", PooledOptions()),
        ("pooled", PooledOptions(region="slice")),
        ("per-volume", PerVolumeOptions()),
        ("per-volume", PerVolumeOptions(median_size=3, erode_iterations=1)),
        ("per-volume", PerVolumeOptions(min_component_size=6)),
    ],
)
def test_dice_curve_equals_what_evaluate_reports(host, tmp_path, protocol, options):
    rng = np.random.default_rng(7)
    reference = _reference(rng, 3)
    scores = _maps(rng, reference, "score")
    evaluator = host.create("evaluator", protocol, options, BuildContext(work_dir=tmp_path))
    thresholds = np.concatenate([candidate_thresholds(scores, reference, per_population=16), [0.5, -0.3]])
    curve, units = evaluator.dice_curve(scores, reference, thresholds)
    assert units > 0
    checked = 0
    for threshold, value in zip(thresholds, curve, strict=True):
        if np.isnan(value):  # with a CC filter, only the searched points are exact
            continue
        rows = evaluator.evaluate(EvaluationRequest(scores, reference, float(threshold), "x"))
        assert value == pytest.approx(reported_dice(rows), abs=1e-9)
        checked += 1
    assert checked >= 10


def test_generic_evaluators_are_searched_through_evaluate(host, tmp_path):
    rng = np.random.default_rng(3)
    reference = _reference(rng, 2)
    scores = _maps(rng, reference, "probability")
    fast = host.create("evaluator", "per-slice", PerSliceOptions(min_lesion_pixels=10), BuildContext(work_dir=tmp_path))

    class Generic:  # an evaluator from a plugin that does not offer dice_curve
        def evaluate(self, request):
            return fast.evaluate(request)

    thresholds = np.array([0.1, 0.3, 0.5])
    slow_values, slow_units = protocol_dice(Generic(), scores, reference, thresholds)
    fast_values, fast_units = protocol_dice(fast, scores, reference, thresholds)
    np.testing.assert_allclose(slow_values, fast_values, atol=1e-12)
    assert slow_units == fast_units
    assert search_threshold(Generic(), scores, reference) is not None


def test_dice_at_thresholds_conventions():
    scores = np.array([0.1, 0.4, 0.8], np.float32)
    truth = np.array([False, True, True])
    np.testing.assert_allclose(dice_at_thresholds(scores, truth, [0.0, 0.4, 0.5, 0.9]), [0.8, 1.0, 2 / 3, 0.0])
    # Nothing true and nothing predicted: Dice 1, as in wsad_core.metrics.counts.
    assert dice_at_thresholds(scores, np.zeros(3, bool), [0.9])[0] == 1.0


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kind", ["probability", "score"])
def test_oracle_bounds_every_rule_on_every_protocol(host, tmp_path, seed, kind):
    """Property over random maps: on each protocol's reported Dice, oracle >= val-best and >= fixed:0.5."""
    rng = np.random.default_rng(seed)
    test_reference, val_reference = _reference(rng, 2), _reference(rng, 2)
    test_maps, val_maps = _maps(rng, test_reference, kind), _maps(rng, val_reference, kind)
    extra = {"per-volume": {"median_size": 3, "min_component_size": 5}} if seed % 2 else {}
    evaluators, rules = _evaluators(host, **extra)
    plan = PipelinePlan(None, None, None, evaluators, rules)
    evaluation, _ = evaluate_maps(
        plan,
        host,
        test=_split(test_reference),
        test_maps=ScoreMaps(test_maps, kind),
        validation=_split(val_reference),
        validation_maps=ScoreMaps(val_maps, kind),
        make_context=lambda stage, key=None: BuildContext(work_dir=tmp_path),
        maps_are_native=True,
    )
    rows = evaluation.rows["test"]
    for protocol in ("per-slice", "pooled", "per-volume"):
        reported = {
            rule: reported_dice([r for r in rows if r.protocol == protocol and r.threshold_rule == rule])
            for rule in ("fixed:0.5", "val-best", "oracle")
        }
        assert reported["oracle"] is not None
        assert reported["val-best"] is not None
        assert reported["oracle"] >= reported["val-best"]
        if kind == "probability":
            assert reported["oracle"] >= reported["fixed:0.5"]
        else:
            assert reported["fixed:0.5"] is None  # no fixed threshold for unbounded scores
        # Each protocol has its own thresholds, and val-best rows say what they rest on.
        assert set(evaluation.thresholds[protocol]) == {"fixed:0.5", "val-best", "oracle"}
        val_rows = [r for r in rows if r.protocol == protocol and r.threshold_rule == "val-best"]
        assert all(r.extras["n_val_patients"] == 2 and r.extras["n_val_units"] > 0 for r in val_rows)
        assert all(r.extras["oracle"] is (r.threshold_rule == "oracle") for r in rows if r.protocol == protocol)
    assert {r.threshold_rule for r in rows if r.protocol == "slice-detection"} == {"threshold-free"}


def test_val_best_follows_the_protocol_statistic(host, tmp_path):
    """Per-slice mean Dice and pooled Dice can prefer different thresholds: each protocol gets its own."""
    rng = np.random.default_rng(11)
    reference = _reference(rng, 3)
    maps = _maps(rng, reference, "probability")
    evaluators, rules = _evaluators(host)
    plan = PipelinePlan(None, None, None, evaluators, rules)
    evaluation, _ = evaluate_maps(
        plan,
        host,
        test=_split(reference),
        test_maps=ScoreMaps(maps, "probability"),
        validation=_split(reference),
        validation_maps=ScoreMaps(maps, "probability"),
        make_context=lambda stage, key=None: BuildContext(work_dir=tmp_path),
        maps_are_native=True,
    )
    options = {e.name: e.options for e in evaluators}
    for protocol in ("per-slice", "pooled", "per-volume"):
        evaluator = host.create("evaluator", protocol, options[protocol], BuildContext(work_dir=tmp_path))
        threshold, best, _ = search_threshold(evaluator, maps, reference)
        assert evaluation.thresholds[protocol]["val-best"] == pytest.approx(threshold)
        # Validation = test here, so val-best and the oracle reach the same statistic.
        rows = evaluation.rows["test"]
        got = reported_dice([r for r in rows if r.protocol == protocol and r.threshold_rule == "val-best"])
        assert got == pytest.approx(best, abs=1e-9)


def test_a_single_validation_patient_is_warned_about(host, tmp_path):
    rng = np.random.default_rng(5)
    test_reference, val_reference = _reference(rng, 2), _reference(rng, 1)
    evaluators, rules = _evaluators(host)
    plan = PipelinePlan(None, None, None, evaluators, rules)
    evaluation, _ = evaluate_maps(
        plan,
        host,
        test=_split(test_reference),
        test_maps=ScoreMaps(_maps(rng, test_reference, "probability"), "probability"),
        validation=_split(val_reference),
        validation_maps=ScoreMaps(_maps(rng, val_reference, "probability"), "probability"),
        make_context=lambda stage, key=None: BuildContext(work_dir=tmp_path),
        maps_are_native=True,
    )
    assert evaluation.validation == {"patients": 1, "slices": 6}
    assert sum("single validation patient" in note for note in evaluation.notes) == 1
