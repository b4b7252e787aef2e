"""Confusion counts at a threshold and count metrics, including the empty-case conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score

from wsad_core.errors import ContractError
from wsad_core.metrics import COUNT_METRICS, Counts, confusion_counts, count_metrics, counts_from_masks


def _counts(tp, fp, fn, tn) -> Counts:
    return Counts(*(torch.tensor([v], dtype=torch.int64) for v in (tp, fp, fn, tn)))


def test_counts_by_hand_with_ge_threshold():
    scores = torch.tensor([[0.9, 0.5, 0.49, 0.1, 0.7, 0.2]])
    targets = torch.tensor([[True, True, True, False, False, False]])
    counts = confusion_counts(scores, targets, 0.5)
    # 0.5 itself is predicted (>=): TP = {0.9, 0.5}, FP = {0.7}, FN = {0.49}, TN = {0.1, 0.2}.
    assert [int(getattr(counts, n)[0]) for n in ("tp", "fp", "fn", "tn")] == [2, 1, 1, 2]
    metrics = count_metrics(counts)
    assert metrics["dice"].item() == pytest.approx(4 / 6)
    assert metrics["jaccard"].item() == pytest.approx(2 / 4)
    assert metrics["precision"].item() == pytest.approx(2 / 3)
    assert metrics["recall"].item() == pytest.approx(2 / 3)
    assert metrics["specificity"].item() == pytest.approx(2 / 3)
    assert tuple(metrics) == COUNT_METRICS


def test_valid_mask_and_per_row_thresholds_on_3d_input():
    scores = torch.tensor([[[0.9, 0.2], [0.6, 0.1]], [[0.9, 0.2], [0.6, 0.1]]])
    targets = torch.tensor([[[True, False], [False, False]]] * 2)
    valid = torch.tensor([[[True, True], [False, True]]] * 2)
    counts = confusion_counts(scores, targets, torch.tensor([0.5, 0.95]), valid)
    assert counts.tp.tolist() == [1, 0]
    assert counts.fp.tolist() == [0, 0]  # the 0.6 pixel is outside the mask
    assert counts.fn.tolist() == [0, 1]
    assert counts.tn.tolist() == [2, 2]
    assert counts.tp.dtype == torch.int64


def test_count_metrics_match_sklearn():
    gen = torch.Generator().manual_seed(0)
    targets = torch.rand(6, 400, generator=gen) < 0.2
    scores = torch.rand(6, 400, generator=gen) + 0.3 * targets
    metrics = count_metrics(confusion_counts(scores, targets, 0.6))
    for row in range(6):
        y, p = targets[row].numpy(), (scores[row] >= 0.6).numpy()
        assert metrics["dice"][row].item() == pytest.approx(f1_score(y, p), abs=1e-12)
        assert metrics["jaccard"][row].item() == pytest.approx(jaccard_score(y, p), abs=1e-12)
        assert metrics["precision"][row].item() == pytest.approx(precision_score(y, p), abs=1e-12)
        assert metrics["recall"][row].item() == pytest.approx(recall_score(y, p), abs=1e-12)
        assert metrics["specificity"][row].item() == pytest.approx(recall_score(~y, ~p), abs=1e-12)


@pytest.mark.parametrize(
    ("case", "counts", "expected"),
    [
        ("both empty", (0, 0, 0, 10), {"dice": 1, "jaccard": 1, "precision": 1, "recall": 1, "specificity": 1}),
        ("nothing predicted", (0, 0, 4, 6), {"dice": 0, "jaccard": 0, "precision": 0, "recall": 0, "specificity": 1}),
        ("truth empty", (0, 3, 0, 7), {"dice": 0, "jaccard": 0, "precision": 0, "recall": 0, "specificity": 0.7}),
        ("no negatives", (5, 0, 1, 0), {"dice": 10 / 11, "jaccard": 5 / 6, "precision": 1, "recall": 5 / 6,
                                        "specificity": 1}),
        ("nothing at all", (0, 0, 0, 0), {"dice": 1, "jaccard": 1, "precision": 1, "recall": 1, "specificity": 1}),
    ],
)  # fmt: skip
def test_empty_cases_have_documented_values(case, counts, expected):
    metrics = count_metrics(_counts(*counts))
    for name, value in expected.items():
        assert metrics[name].item() == pytest.approx(value), (case, name)
    assert not any(torch.isnan(v).any() for v in metrics.values())


def test_empty_truth_and_prediction_from_maps():
    scores = torch.zeros(2, 16)
    targets = torch.zeros(2, 16, dtype=torch.bool)
    scores[1, 3] = 0.8
    metrics = count_metrics(confusion_counts(scores, targets, 0.5))
    assert metrics["dice"].tolist() == [1.0, 0.0]
    assert metrics["recall"].tolist() == [1.0, 0.0]
    assert metrics["specificity"].tolist() == pytest.approx([1.0, 15 / 16])


def test_counts_from_masks_and_errors():
    predicted = torch.from_numpy(np.array([[True, True, False, False]]))
    targets = torch.from_numpy(np.array([[True, False, True, False]]))
    counts = counts_from_masks(predicted, targets)
    assert (counts.tp.item(), counts.fp.item(), counts.fn.item(), counts.tn.item()) == (1, 1, 1, 1)
    with pytest.raises(ContractError, match="bool"):
        counts_from_masks(predicted.float(), targets)
    with pytest.raises(ContractError, match="shape"):
        confusion_counts(torch.zeros(1, 4), targets[:, :3], 0.5)
    with pytest.raises(ContractError, match=r"\(N, \.\.\.\)"):
        confusion_counts(torch.zeros(4), targets[0], 0.5)
