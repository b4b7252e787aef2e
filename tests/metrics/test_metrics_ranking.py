"""Exact AUROC/AP against scikit-learn, ties, masks, chunking and degenerate rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from wsad_core.errors import ContractError
from wsad_core.metrics import auroc_ap_1d, ranking_metrics
from wsad_core.metrics._rank_kernels import rank_chunk_torch

# The README states agreement with scikit-learn "to 1e-12": this is where it is tested.
TOL = {"atol": 1e-12, "rtol": 0.0}


def _sklearn(scores: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None = None):
    aurocs, aps = [], []
    for row in range(scores.shape[0]):
        keep = np.ones(scores.shape[1], dtype=bool) if valid is None else valid[row].numpy()
        y, s = targets[row].numpy()[keep], scores[row].numpy()[keep]
        aurocs.append(roc_auc_score(y, s))
        aps.append(average_precision_score(y, s))
    return torch.tensor(aurocs, dtype=torch.float64), torch.tensor(aps, dtype=torch.float64)


def _data(rows: int = 12, width: int = 500, prevalence: float = 0.1, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    targets = torch.rand(rows, width, generator=gen) < prevalence
    targets[:, 0], targets[:, 1] = True, False  # every row has both classes
    # Informative but imperfect scores, so that AUROC is neither 0.5 nor 1.
    scores = torch.rand(rows, width, generator=gen) + 0.7 * targets
    return scores.float(), targets


@pytest.mark.parametrize("kernel", ["public", "torch"])
@pytest.mark.parametrize("quantise", [None, 10, 2])
def test_matches_sklearn_random_and_tied(kernel, quantise):
    scores, targets = _data()
    if quantise is not None:
        scores = torch.round(scores * quantise) / quantise  # heavy ties: only a few distinct values
        assert torch.unique(scores).numel() <= 2 * quantise + 1
    if kernel == "public":
        auroc, ap = ranking_metrics(scores, targets, chunk_size=5)
    else:
        auroc, ap = rank_chunk_torch(scores, targets, None)
    ref_auroc, ref_ap = _sklearn(scores, targets)
    torch.testing.assert_close(auroc, ref_auroc, **TOL)
    torch.testing.assert_close(ap, ref_ap, **TOL)
    assert 0.6 < float(auroc.mean()) < 0.99


@pytest.mark.parametrize("kernel", ["public", "torch"])
def test_valid_mask_restricts_rows(kernel):
    scores, targets = _data(seed=1)
    gen = torch.Generator().manual_seed(2)
    valid = torch.rand(scores.shape, generator=gen) < 0.6
    valid[:, :2] = True
    scores = torch.round(scores * 20) / 20
    # Scores outside the mask are made extreme: they must have no influence at all.
    scores = torch.where(valid, scores, torch.where(targets, -5.0, 5.0))
    if kernel == "public":
        auroc, ap = ranking_metrics(scores, targets, valid)
    else:
        auroc, ap = rank_chunk_torch(scores, targets, valid)
    ref_auroc, ref_ap = _sklearn(scores, targets, valid)
    torch.testing.assert_close(auroc, ref_auroc, **TOL)
    torch.testing.assert_close(ap, ref_ap, **TOL)


def test_all_equal_scores_and_single_positive():
    scores = torch.full((3, 50), 0.25)
    targets = torch.zeros(3, 50, dtype=torch.bool)
    targets[0, :10] = True
    targets[1, 7] = True  # a single positive
    targets[2, 40:] = True
    scores[1] = torch.linspace(0, 1, 50)
    auroc, ap = ranking_metrics(scores, targets)
    # All-equal scores: AUROC 1/2 and AP = prevalence (one threshold, recall 0 -> 1).
    assert auroc[0].item() == pytest.approx(0.5, abs=1e-12)
    assert ap[0].item() == pytest.approx(10 / 50, abs=1e-12)
    # Single positive at rank 43 of 50 from the bottom: 7 negatives below it.
    assert auroc[1].item() == pytest.approx(7 / 49, abs=1e-12)
    assert ap[1].item() == pytest.approx(1 / 43, abs=1e-12)
    ref_auroc, ref_ap = _sklearn(scores, targets)
    torch.testing.assert_close(auroc, ref_auroc, **TOL)
    torch.testing.assert_close(ap, ref_ap, **TOL)


def test_degenerate_rows_give_nan_internally():
    scores = torch.rand(4, 30)
    targets = torch.zeros(4, 30, dtype=torch.bool)
    targets[1] = True  # no negatives
    targets[2, :5] = True
    valid = torch.ones(4, 30, dtype=torch.bool)
    valid[3] = False  # nothing valid
    targets[3, :5] = True
    auroc, ap = ranking_metrics(scores, targets, valid)
    assert math.isnan(auroc[0])
    assert math.isnan(ap[0])
    assert math.isnan(auroc[1])
    assert ap[1].item() == 1.0
    assert not math.isnan(auroc[2])
    assert not math.isnan(ap[2])
    assert math.isnan(auroc[3])
    assert math.isnan(ap[3])
    t_auroc, t_ap = rank_chunk_torch(scores, targets, valid)
    torch.testing.assert_close(t_auroc, auroc, equal_nan=True, **TOL)
    torch.testing.assert_close(t_ap, ap, equal_nan=True, **TOL)


def test_chunking_and_dtypes_do_not_change_results():
    scores, targets = _data(rows=10, seed=3)
    scores = torch.round(scores * 50) / 50
    reference = ranking_metrics(scores, targets, chunk_size=64)
    for chunk in (1, 3, 7):
        result = ranking_metrics(scores, targets, chunk_size=chunk)
        assert torch.equal(result[0], reference[0])
        assert torch.equal(result[1], reference[1])
    for dtype in (torch.float64, torch.float16):
        cast = scores.to(dtype)
        auroc, ap = ranking_metrics(cast, targets)
        ref_auroc, ref_ap = _sklearn(cast.float() if dtype == torch.float16 else cast, targets)
        torch.testing.assert_close(auroc, ref_auroc, **TOL)
        torch.testing.assert_close(ap, ref_ap, **TOL)
    assert reference[0].dtype == torch.float64
    assert reference[0].shape == (10,)


def test_negative_scores_and_signed_zero():
    scores = torch.tensor([[-3.0, -0.0, 0.0, 2.0, -1.0, 0.0]])
    targets = torch.tensor([[False, True, False, True, True, False]])
    auroc, ap = ranking_metrics(scores, targets)
    ref_auroc, ref_ap = _sklearn(scores, targets)
    torch.testing.assert_close(auroc, ref_auroc, **TOL)
    torch.testing.assert_close(ap, ref_ap, **TOL)


def test_pooled_1d_matches_sklearn():
    gen = torch.Generator().manual_seed(4)
    targets = torch.rand(300_000, generator=gen) < 0.03
    scores = (torch.rand(300_000, generator=gen) + 0.5 * targets).float()
    scores = torch.round(scores * 1000) / 1000
    valid = torch.rand(300_000, generator=gen) < 0.8
    auroc, ap = auroc_ap_1d(scores, targets)
    assert auroc == pytest.approx(roc_auc_score(targets.numpy(), scores.numpy()), abs=1e-12)
    assert ap == pytest.approx(average_precision_score(targets.numpy(), scores.numpy()), abs=1e-12)
    auroc, ap = auroc_ap_1d(scores.reshape(300, 1000), targets.reshape(300, 1000), valid.reshape(300, 1000))
    keep = valid.numpy()
    assert auroc == pytest.approx(roc_auc_score(targets.numpy()[keep], scores.numpy()[keep]), abs=1e-12)
    assert ap == pytest.approx(average_precision_score(targets.numpy()[keep], scores.numpy()[keep]), abs=1e-12)
    assert math.isnan(auroc_ap_1d(scores, torch.zeros_like(targets))[0])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_scores_are_rejected(bad):
    scores, targets = _data(rows=3, width=20)
    scores[1, 4] = bad
    with pytest.raises(ContractError, match="NaN or Inf"):
        ranking_metrics(scores, targets)
    with pytest.raises(ContractError, match="NaN or Inf"):
        rank_chunk_torch(scores, targets, None)


def test_non_finite_outside_valid_is_ignored_only_if_masked():
    scores, targets = _data(rows=2, width=20)
    valid = torch.ones_like(targets)
    valid[0, 5] = False
    scores[0, 5] = float("inf")
    auroc, _ = ranking_metrics(scores, targets, valid)
    assert not math.isnan(auroc[0])


def test_shape_and_dtype_errors():
    scores, targets = _data(rows=2, width=20)
    with pytest.raises(ContractError, match="shape"):
        ranking_metrics(scores, targets[:, :10])
    with pytest.raises(ContractError, match="bool"):
        ranking_metrics(scores, targets.float())
    with pytest.raises(ContractError, match=r"\(N, P\)"):
        ranking_metrics(scores[0], targets[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    scores, targets = _data(rows=20, seed=5)
    scores = torch.round(scores * 30) / 30
    cpu = ranking_metrics(scores, targets, chunk_size=8)
    gpu = ranking_metrics(scores.cuda(), targets.cuda(), chunk_size=8)
    assert gpu[0].device.type == "cuda"
    # GPU reductions may sum in another order: agreement to 1e-9, not bit-for-bit.
    torch.testing.assert_close(gpu[0].cpu(), cpu[0], atol=1e-9, rtol=0.0)
    torch.testing.assert_close(gpu[1].cpu(), cpu[1], atol=1e-9, rtol=0.0)
