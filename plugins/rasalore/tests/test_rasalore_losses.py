"""Each loss term against hand-computed values and an independent scipy/numpy reference (§8)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from wsad_rasalore._training import lr_factor
from wsad_rasalore.losses import (
    alignment_loss,
    decoder_loss,
    exp_log,
    gaussian_filter,
    gaussian_weight,
    point_activation_loss,
    soft_dice,
    structure_loss,
    tversky_index,
)


def t(values):
    return torch.tensor([values], dtype=torch.float32)


def test_soft_dice_hand_value():
    # Σuv = 1.5, Σu = 1.5, Σv = 3 → (3 + 1e-7) / (4.5 + 1e-7)
    assert soft_dice(t([1, 0.5, 0, 0]), t([1, 1, 0, 1])).item() == pytest.approx(3 / 4.5, abs=1e-7)
    assert soft_dice(t([0, 0]), t([0, 0])).item() == pytest.approx(1.0)  # the ε makes empty-vs-empty a match


def test_tversky_weights_false_negatives_by_delta():
    # TP 1.5, FN 1.5, FP 0 → 1.5 / (1.5 + 0.3·1.5)
    assert tversky_index(t([1, 0.5, 0, 0]), t([1, 1, 0, 1]), 0.3).item() == pytest.approx(1.5 / 1.95, abs=1e-6)
    # TP 1, FN 0, FP 2 → 1 / (1 + 0.7·2): false positives cost 1 - δ = 0.7
    assert tversky_index(t([1, 1, 1, 0]), t([1, 0, 0, 0]), 0.3).item() == pytest.approx(1 / 2.4, abs=1e-6)


def test_exp_log_values_clamp_and_finite_gradients():
    scores = torch.tensor([math.exp(-1), math.exp(-8), 1e-6, 1.0, 0.0], requires_grad=True)
    values = exp_log(scores, 0.3)
    expected = [1.0, 8**0.3, 2.0, 0.0, 2.0]  # 1e-6: (13.8)^0.3 = 2.2 → clamped to 2
    assert values.tolist() == pytest.approx(expected, abs=1e-5)
    values.sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert scores.grad[2] == 0  # saturated, as in the code
    assert scores.grad[4] == 0


@pytest.mark.parametrize(("shape", "sigma"), [((64, 80), 10.0), ((64, 64), 15.0), ((24, 40), 12.0), ((30, 30), 2.5)])
def test_gaussian_filter_matches_scipy(shape, sigma):
    rng = np.random.default_rng(0)
    masks = (rng.random((2, *shape)) < 0.2).astype(np.float32)
    ours = gaussian_filter(torch.from_numpy(masks), sigma).numpy()
    reference = np.stack([ndimage.gaussian_filter(m, sigma) for m in masks])  # mode reflect, truncate 4
    np.testing.assert_allclose(ours, reference, atol=2e-6)


def test_gaussian_weight_is_max_normalised_and_zero_for_empty_masks():
    masks = torch.zeros(2, 32, 32)
    masks[0, 10:20, 5:12] = 1
    weights = gaussian_weight(masks, 3.0)
    assert weights[0].max().item() == pytest.approx(1.0)
    assert weights[0, 15, 8] > weights[0, 10, 5] > weights[0, 30, 30]  # centre > boundary > far away
    assert not weights[1].any()


def test_decoder_loss_hand_values_full_mask():
    # D = S = ones on 4×4, p = 0.5: G(ones) = 1, so T_D = 8 / (8 + 0.3·8); the background and FP terms
    # vanish (1 - D = 0: Dice(0, 0) = 1 → EL 0); S ⊙ (1 - G(S)) = 0 → T_S = 0 → EL = 2, κ = Dice(S, D) = 1.
    probs = torch.full((1, 4, 4), 0.5)
    ones = torch.ones(1, 4, 4)
    terms = decoder_loss(probs, ones, ones, sigma_mask=1.0, sigma_background=1.5)
    el_td = (-math.log(8 / 10.4)) ** 0.3
    assert terms.pseudo.item() == pytest.approx(el_td, abs=1e-5)
    assert terms.background.item() == pytest.approx(0.0, abs=1e-6)
    assert terms.false_positive.item() == 0.0
    assert terms.kappa.item() == pytest.approx(1.0)
    assert terms.refined.item() == pytest.approx(2.0)
    assert terms.total.item() == pytest.approx(el_td + 2.0, abs=1e-5)


def test_decoder_loss_false_positive_and_weights():
    # D = left half of 2×4; p = 1 on the right half only: FP = Σp(1-D) / 8 = 4/8, weighted by α.
    ddpt = torch.tensor([[[1, 1, 0, 0], [1, 1, 0, 0]]], dtype=torch.float32)
    probs = 1 - ddpt
    a = decoder_loss(probs, ddpt, alpha=0.6, beta=0.0, sigma_mask=1.0, sigma_background=1.0)
    b = decoder_loss(probs, ddpt, alpha=0.0, beta=0.0, sigma_mask=1.0, sigma_background=1.0)
    assert a.false_positive.item() == pytest.approx(0.5)
    assert (a.total - b.total).item() == pytest.approx(0.6 * 0.5)
    assert a.pseudo.item() == pytest.approx(2.0)  # no overlap with D: Tversky 0 → saturated


def _reference_decoder(p, d, s, alpha=0.6, beta=0.6, delta=0.3, sm=3.0, sb=4.5):
    # Written from §8 with scipy, independent of the torch implementation.
    def g(m, sigma):
        f = ndimage.gaussian_filter(m.astype(np.float32), sigma)
        return f / f.max()

    def tv(p, t):
        tp = (p * t).sum()
        return tp / (tp + delta * ((1 - p) * t).sum() + (1 - delta) * (p * (1 - t)).sum() + 1e-6)

    def dice(u, v):
        return (2 * (u * v).sum() + 1e-7) / (u.sum() + v.sum() + 1e-7)

    def el(x):
        return min(max((-math.log(x)) ** 0.3, 0.0), 2.0)

    loss = el(tv(p, d * g(d, sm))) + beta * el(dice((1 - p) * (1 - d), (1 - d) * g(1 - d, sb)))
    loss += alpha * (p * (1 - d)).sum() / p.size
    if s.any():
        loss += dice(s, d) * el(tv(p, s * (1 - g(s, sm))))
    return loss


def test_decoder_loss_matches_reference_on_random_masks():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:48, 0:48]
    d = np.stack([((yy - 20) ** 2 + (xx - 25) ** 2 < 100), ((yy - 30) ** 2 + (xx - 15) ** 2 < 60)]).astype(np.float32)
    s = np.stack([((yy - 22) ** 2 + (xx - 24) ** 2 < 140), np.zeros((48, 48), bool)]).astype(np.float32)
    p = rng.uniform(0.01, 0.99, (2, 48, 48)).astype(np.float32)
    terms = decoder_loss(
        torch.from_numpy(p), torch.from_numpy(d), torch.from_numpy(s), sigma_mask=3.0, sigma_background=4.5
    )
    expected = [_reference_decoder(p[i], d[i], s[i]) for i in range(2)]
    np.testing.assert_allclose(terms.total.numpy(), expected, rtol=2e-5)
    assert terms.kappa[1] == 0  # empty S: the κ term is dropped
    assert terms.refined[1] == 0


def test_decoder_loss_dice_variant_and_gradients_stay_finite():
    ddpt = torch.zeros(2, 16, 16)
    ddpt[:, 4:10, 4:10] = 1
    sam = torch.zeros(2, 16, 16)
    sam[0, 3:11, 3:11] = 1  # sample 1: empty refined mask
    logits = torch.full((2, 16, 16), -200.0, requires_grad=True)  # sigmoid underflows to exactly 0
    for overlap in ("tversky", "dice"):
        terms = decoder_loss(torch.sigmoid(logits), ddpt, sam, sigma_mask=2.0, sigma_background=3.0, overlap=overlap)
        terms.total.sum().backward()
        assert torch.isfinite(logits.grad).all()
        logits.grad = None
    probs = torch.rand(2, 16, 16)
    dice_terms = decoder_loss(probs, ddpt, None, overlap="dice", sigma_mask=2.0, sigma_background=3.0)
    weighted = ddpt * gaussian_weight(ddpt, 2.0)
    assert dice_terms.pseudo.tolist() == pytest.approx(exp_log(soft_dice(probs, weighted)).tolist(), abs=1e-6)


def test_point_activation_loss_hand_value():
    # Dice([1, 1, 0, 0], [1, 0, 0, 0]) = 2/3 → EL = (ln 1.5)^0.3
    loss = point_activation_loss(t([1, 1, 0, 0]), t([1, 0, 0, 0]))
    assert loss.item() == pytest.approx(math.log(1.5) ** 0.3, abs=1e-6)


def test_structure_loss_hand_values_and_empty_sets():
    xi = torch.tensor([[[1.0, 3.0], [-1.0, -1.0]]])  # point 0 active: MSE to +1 = (0 + 4)/2; point 1 inactive: 0
    assert structure_loss(xi, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(2.0)
    xi = torch.tensor([[[0.0, 0.0], [-1.0, -3.0]]])  # no active point: only MSE to -1 = (1 + 1 + 0 + 4)/4
    assert structure_loss(xi, torch.tensor([[0.0, 0.0]])).item() == pytest.approx(1.5)


def test_alignment_loss_reductions():
    xi, target = torch.ones(2, 3, 4), torch.zeros(2, 3, 4)
    assert alignment_loss(xi, target, "mean").item() == pytest.approx(1.0)
    assert alignment_loss(xi, target, "sum").item() == pytest.approx(12.0)


def test_learning_rate_schedule_matches_the_official_warmup_lr():
    # §9: 1e-2 for epochs 0-20, then halved every 20 epochs; the 200th epoch runs at 1e-2/512.
    factors = [lr_factor(e) for e in range(200)]
    assert factors[:21] == [1.0] * 21
    assert factors[21] == factors[40] == 0.5
    assert factors[41] == 0.25
    assert factors[199] == 1 / 512
