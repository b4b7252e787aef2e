"""Invariants of the metrics on arbitrary inputs: bounds, symmetry, empty masks, oracle >= any rule."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import average_precision_score, roc_auc_score

from wsad_core.metrics import confusion_counts, count_metrics, ranking_metrics
from wsad_core.metrics.threshold_search import dice_at_thresholds

_SIZES = st.integers(1, 60)
_SCORES = st.floats(-1e3, 1e3, allow_nan=False, width=32) | st.sampled_from([0.0, 0.5, 1.0])


@st.composite
def scored(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    size = draw(_SIZES)
    scores = draw(hnp.arrays(np.float32, size, elements=_SCORES))
    truth = draw(hnp.arrays(np.bool_, size))
    return scores, truth


@given(scored())
def test_ranking_metrics_match_sklearn_and_auroc_is_symmetric(pair) -> None:
    scores, truth = pair
    auroc, ap = ranking_metrics(torch.from_numpy(scores)[None], torch.from_numpy(truth)[None])
    if truth.all() or not truth.any():
        assert np.isnan(float(auroc[0])), "AUROC is undefined with one class"
        if not truth.any():
            assert np.isnan(float(ap[0]))
        return
    assert abs(float(auroc[0]) - roc_auc_score(truth, scores)) < 1e-9
    assert abs(float(ap[0]) - average_precision_score(truth, scores)) < 1e-9
    flipped, _ = ranking_metrics(torch.from_numpy(-scores)[None], torch.from_numpy(truth)[None])
    assert abs(float(auroc[0]) + float(flipped[0]) - 1.0) < 1e-9


@given(scored(), st.floats(-2e3, 2e3, allow_nan=False))
def test_count_metrics_are_bounded_never_nan_and_follow_the_empty_conventions(pair, threshold: float) -> None:
    scores, truth = pair
    counts = confusion_counts(torch.from_numpy(scores)[None], torch.from_numpy(truth)[None], threshold)
    metrics = {name: float(value[0]) for name, value in count_metrics(counts).items()}
    for name, value in metrics.items():
        assert 0.0 <= value <= 1.0, (name, value)
    predicted = scores >= np.float32(threshold)
    if not predicted.any() and not truth.any():
        assert metrics["dice"] == 1.0
    elif not (predicted & truth).any():
        assert metrics["dice"] == 0.0
    if np.array_equal(predicted, truth):
        assert metrics["dice"] == 1.0
    expected = dice_at_thresholds(scores, truth, np.asarray([threshold], np.float32))[0]
    assert abs(metrics["dice"] - expected) < 1e-9, "the threshold search scores Dice as the metric does"


@given(scored(), st.lists(st.floats(-2e3, 2e3, allow_nan=False), min_size=1, max_size=5))
def test_the_oracle_threshold_is_at_least_every_other_rule(pair, rules: list[float]) -> None:
    scores, truth = pair
    assume(truth.any())
    candidates = np.unique(np.concatenate([scores, np.float32(rules)]).astype(np.float32))
    oracle = dice_at_thresholds(scores, truth, candidates).max()
    for threshold in rules:
        assert oracle >= dice_at_thresholds(scores, truth, np.asarray([threshold], np.float32))[0] - 1e-12
