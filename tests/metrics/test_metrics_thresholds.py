"""Threshold-rule parsing and the exact best-Dice threshold search."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsad_core.errors import ConfigError, ContractError
from wsad_core.metrics import ThresholdRule, best_dice_threshold, parse_threshold_rule, resolve_threshold
from wsad_core.metrics.thresholds import _best_dice_torch


@pytest.mark.parametrize(
    ("text", "name", "value", "oracle", "canonical"),
    [
        ("fixed", "fixed", 0.5, False, "fixed:0.5"),
        ("fixed:0.35", "fixed", 0.35, False, "fixed:0.35"),
        (" FIXED:-1.5 ", "fixed", -1.5, False, "fixed:-1.5"),
        ("val-best", "val-best", None, False, "val-best"),
        ("val-best-dice", "val-best", None, False, "val-best"),
        ("oracle", "oracle", None, True, "oracle"),
        ("test-best", "oracle", None, True, "oracle"),
        ("test-oracle", "oracle", None, True, "oracle"),
    ],
)
def test_parse_valid_rules(text, name, value, oracle, canonical):
    rule = parse_threshold_rule(text)
    assert (rule.name, rule.value, rule.is_oracle, rule.text, str(rule)) == (name, value, oracle, canonical, canonical)
    assert parse_threshold_rule(rule.text) == rule


def test_labels_and_splits():
    assert "oracle" in parse_threshold_rule("oracle").label
    assert "test labels" in parse_threshold_rule("oracle").label
    assert "validation" in parse_threshold_rule("val-best").label
    assert parse_threshold_rule("fixed:0.25").label == "fixed threshold 0.25"
    assert [parse_threshold_rule(t).split for t in ("fixed", "val-best", "oracle")] == [None, "validation", "test"]
    assert ThresholdRule("fixed").value == 0.5


@pytest.mark.parametrize("text", ["", "best", "fixed:", "fixed:abc", "fixed:nan", "fixed:inf", "val-best:0.3", "0.5"])
def test_bad_rules_list_the_valid_forms(text):
    with pytest.raises(ConfigError) as info:
        parse_threshold_rule(text)
    assert "fixed:<number>" in info.value.hint
    assert "val-best" in info.value.hint
    assert "oracle" in info.value.hint


def _brute_force(scores: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    best_t, best_d = None, -1.0
    for t in np.unique(scores):  # ascending: '>=' keeps the largest threshold among ties
        predicted = scores >= t
        tp = np.sum(predicted & targets)
        dice = 2 * tp / (predicted.sum() + targets.sum())
        if dice >= best_d:
            best_t, best_d = float(t), float(dice)
    return best_t, best_d


@pytest.mark.parametrize("levels", [None, 7, 40])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_best_dice_equals_brute_force(levels, seed):
    rng = np.random.default_rng(seed)
    targets = rng.random(3000) < 0.15
    scores = (rng.random(3000) + 0.6 * targets).astype(np.float32)
    if levels:
        scores = np.round(scores * levels) / levels
    expected = _brute_force(scores, targets)
    result = best_dice_threshold(torch.from_numpy(scores), torch.from_numpy(targets))
    assert result[0] == expected[0]
    assert result[1] == pytest.approx(expected[1], abs=1e-12)
    assert _best_dice_torch(torch.from_numpy(scores), torch.from_numpy(targets)) == pytest.approx(result, abs=1e-12)
    assert 0.3 < result[1] < 1.0


def test_best_dice_perfect_separation_and_shapes():
    scores = torch.tensor([[0.1, 0.2, 0.8], [0.9, 0.3, 0.85]], dtype=torch.float64)
    targets = scores > 0.5
    assert best_dice_threshold(scores, targets) == (0.8, 1.0)


def test_best_dice_without_positives_predicts_nothing():
    scores = torch.tensor([0.2, 0.7, 0.4])
    threshold, dice = best_dice_threshold(scores, torch.zeros(3, dtype=torch.bool))
    assert dice == 1.0
    assert threshold > 0.7
    assert not bool((scores >= threshold).any())
    assert _best_dice_torch(scores, torch.zeros(3, dtype=torch.bool)) == (threshold, 1.0)


def test_best_dice_errors():
    with pytest.raises(ContractError, match="no scores"):
        best_dice_threshold(torch.zeros(0), torch.zeros(0, dtype=torch.bool))
    with pytest.raises(ContractError, match="NaN or Inf"):
        best_dice_threshold(torch.tensor([0.1, float("nan")]), torch.tensor([True, False]))
    with pytest.raises(ContractError, match="bool"):
        best_dice_threshold(torch.zeros(3), torch.zeros(3))


def test_resolve_threshold():
    scores = torch.tensor([0.1, 0.4, 0.6, 0.9])
    targets = torch.tensor([False, False, True, True])
    assert resolve_threshold(parse_threshold_rule("fixed:0.3"), None, None) == 0.3
    assert resolve_threshold(parse_threshold_rule("val-best"), scores, targets) == pytest.approx(0.6)
    with pytest.raises(ContractError, match="test split"):
        resolve_threshold(parse_threshold_rule("oracle"), None, None)
