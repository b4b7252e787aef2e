"""The RASALoRE loss terms (shared/docs/rasalore.md §8, paper eq. 1), each a small function.

All functions take batched tensors and reduce per sample (dimension 0 kept) unless named
``*_loss``, which return the batch mean. With ``p`` the sigmoid output, ``D`` the generator's
mask (M_DDPT), ``S`` the refined mask (M_SAM), ``a`` the point activations, ``y`` the point
labels and ξ the RASA embeddings::

    L_Dec = EL(T_D) + β·EL(B) + α·FP + κ·EL(T_S)       (κ term dropped when S is empty or absent)
    T_D = Tversky_δ(p, D ⊙ G_σ(D));  T_S = Tversky_δ(p, S ⊙ (1 - G_σ(S)))
    B = Dice((1 - p) ⊙ (1 - D), (1 - D) ⊙ G_σ'(1 - D));  FP = Σ p ⊙ (1 - D) / #pixels;  κ = Dice(S, D)
    L = L_Dec + L_PA + L_Struct,  L_PA = EL(Dice(a, y)),  L_Struct = MSE(ξ[y=1], 1) + MSE(ξ[y=0], -1)

``G_σ`` is ``scipy.ndimage.gaussian_filter(M, σ)`` (mode reflect, truncate 4) divided by its
maximum, computed here in torch (no gradient; the maps are targets). The default computes each
separable pass as one matrix product with the (n, n) operator that folds the reflected
borders into the kernel (built once per size and σ); ``reference=True`` runs the original
padded one-channel convolutions, which oneDNN executes slowly. They agree to float32 rounding.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "DecoderLossTerms",
    "alignment_loss",
    "decoder_loss",
    "exp_log",
    "gaussian_filter",
    "gaussian_filter_matrix",
    "gaussian_weight",
    "point_activation_loss",
    "scaled_sigma",
    "soft_dice",
    "structure_loss",
    "tversky_index",
]

_DICE_EPS = 1e-7  # §8: Dice(u, v) = (2Σuv + 1e-7) / (Σu + Σv + 1e-7)
_TVERSKY_EPS = 1e-6
_EL_CAP = 2.0  # EL(s) = clamp((-ln s)^φ, 0, 2)
_TINY = 1e-30


def _sum(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).sum(1)


def soft_dice(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Soft Dice per sample, ``(2Σuv + 1e-7) / (Σu + Σv + 1e-7)``; shape (B,)."""
    return (2 * _sum(u * v) + _DICE_EPS) / (_sum(u) + _sum(v) + _DICE_EPS)


def tversky_index(p: torch.Tensor, t: torch.Tensor, delta: float = 0.3) -> torch.Tensor:
    """``Σpt / (Σpt + δ·Σ(1-p)t + (1-δ)·Σp(1-t) + 1e-6)`` per sample (δ weights false negatives)."""
    tp = _sum(p * t)
    return tp / (tp + delta * _sum((1 - p) * t) + (1 - delta) * _sum(p * (1 - t)) + _TVERSKY_EPS)


def exp_log(score: torch.Tensor, phi: float = 0.3) -> torch.Tensor:
    """Exponential-logarithmic loss ``clamp((-ln s)^φ, 0, 2)`` of an overlap score ``s`` in [0, 1].

    Scores below ``exp(-2^(1/φ))`` saturate at 2 (as in the code); the guards only keep the
    gradient finite at ``s = 0`` and ``s = 1``, where ``(-ln s)^φ`` has an infinite slope.
    """
    x = -torch.log(score.clamp_min(_TINY))
    positive = x > 0
    powered = torch.where(positive, x, torch.ones_like(x)).pow(phi)
    return torch.where(positive, powered, torch.zeros_like(x)).clamp(0.0, _EL_CAP)


def _reflect_index(length: int, radius: int, device: torch.device) -> torch.Tensor:
    # scipy's 'reflect' extends (d c b a | a b c d | d c b a): half-sample symmetric, period 2n.
    index = torch.arange(-radius, length + radius, device=device) % (2 * length)
    return torch.where(index >= length, 2 * length - 1 - index, index)


def gaussian_filter(images: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """``scipy.ndimage.gaussian_filter`` of each (H, W) image of a (B, H, W) batch (mode reflect).

    Args:
        images: (B, H, W) floating tensor.
        sigma: standard deviation in pixels, the same on both axes.
        truncate: kernel radius in standard deviations (scipy's default 4).
    """
    kernel = _kernel(sigma, truncate)
    radius = (len(kernel) - 1) // 2
    kernel = kernel.to(images.dtype).to(images.device).view(1, 1, -1)
    batch, height, width = images.shape
    out = images.index_select(2, _reflect_index(width, radius, images.device))
    out = F.conv1d(out.reshape(-1, 1, out.shape[-1]), kernel).view(batch, height, width)
    out = out.transpose(1, 2).index_select(2, _reflect_index(height, radius, images.device))
    out = F.conv1d(out.reshape(-1, 1, out.shape[-1]), kernel).view(batch, width, height)
    return out.transpose(1, 2).contiguous()


def _kernel(sigma: float, truncate: float) -> torch.Tensor:
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


@functools.lru_cache(maxsize=32)
def _gaussian_operator(length: int, sigma: float, truncate: float) -> torch.Tensor:
    # out[i] = Σ_t kernel[t]·x[reflect(i + t - r)] as a (length, length) matrix; taps that reflect
    # onto the same pixel are summed. The float32-rounded kernel, as the convolution uses it.
    kernel = _kernel(sigma, truncate).float().double()
    radius = (len(kernel) - 1) // 2
    source = _reflect_index(length, radius, torch.device("cpu"))
    rows = torch.arange(length).unsqueeze(1).expand(-1, len(kernel))
    cols = source[rows + torch.arange(len(kernel))]
    operator = torch.zeros(length, length, dtype=torch.float64)
    operator.index_put_((rows, cols), kernel.expand_as(cols).contiguous(), accumulate=True)
    return operator


def gaussian_filter_matrix(images: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """:func:`gaussian_filter` as two matrix products ``A_H · M · A_Wᵀ`` (same result to float32 rounding).

    Args:
        images: (B, H, W) floating tensor.
        sigma: standard deviation in pixels, the same on both axes.
        truncate: kernel radius in standard deviations (scipy's default 4).
    """
    _, height, width = images.shape
    rows = _gaussian_operator(height, float(sigma), float(truncate)).to(images.device, images.dtype)
    cols = _gaussian_operator(width, float(sigma), float(truncate)).to(images.device, images.dtype)
    return torch.matmul(torch.matmul(rows, images), cols.T)


def gaussian_weight(masks: torch.Tensor, sigma: float, *, reference: bool = False) -> torch.Tensor:
    """``G_σ(M)``: Gaussian-smoothed masks divided by their per-sample maximum (0 for empty masks).

    Args:
        masks: (B, H, W) masks.
        sigma: σ in pixels.
        reference: filter with :func:`gaussian_filter` (padded convolutions) instead of
            :func:`gaussian_filter_matrix`.
    """
    with torch.no_grad():
        smooth = (gaussian_filter if reference else gaussian_filter_matrix)(masks.float(), sigma)
        peak = smooth.flatten(1).amax(1).view(-1, 1, 1)
        return torch.where(peak > 0, smooth / peak.clamp_min(_TINY), torch.zeros_like(smooth))


@dataclass(frozen=True, slots=True)
class DecoderLossTerms:
    """Per-sample terms of L_Dec, each (B,)."""

    pseudo: torch.Tensor  # EL(T_D)
    background: torch.Tensor  # EL(B)
    false_positive: torch.Tensor  # FP
    refined: torch.Tensor  # EL(T_S), 0 where dropped
    kappa: torch.Tensor  # Dice(S, D), 0 where dropped
    total: torch.Tensor  # EL(T_D) + β·EL(B) + α·FP + κ·EL(T_S)


def decoder_loss(
    probs: torch.Tensor,
    ddpt: torch.Tensor,
    sam: torch.Tensor | None = None,
    *,
    alpha: float = 0.6,
    beta: float = 0.6,
    delta: float = 0.3,
    phi: float = 0.3,
    sigma_mask: float = 10.0,
    sigma_background: float = 15.0,
    overlap: Literal["tversky", "dice"] = "tversky",
    reference: bool = False,
) -> DecoderLossTerms:
    """L_Dec per sample for probabilities and binary masks, all (B, H, W) (§8).

    Args:
        probs: sigmoid output p.
        ddpt: generator mask D in {0, 1}.
        sam: refined mask S in {0, 1}, or ``None`` ("RASALoRE without MedSAM").
        alpha: weight of FP.
        beta: weight of the background term.
        delta: Tversky δ.
        phi: EL exponent.
        sigma_mask: σ of G for D and S.
        sigma_background: σ of G for 1 - D.
        overlap: ``"tversky"`` (code) or ``"dice"`` (paper) for the two pseudo-mask terms.
        reference: compute the weight maps with the original convolutions (:func:`gaussian_weight`).
    """
    probs, ddpt = probs.float(), ddpt.float()
    weight = functools.partial(gaussian_weight, reference=reference)

    def score(target: torch.Tensor) -> torch.Tensor:
        return tversky_index(probs, target, delta) if overlap == "tversky" else soft_dice(probs, target)

    pseudo = exp_log(score(ddpt * weight(ddpt, sigma_mask)), phi)
    outside = 1 - ddpt
    background = exp_log(soft_dice((1 - probs) * outside, outside * weight(outside, sigma_background)), phi)
    false_positive = _sum(probs * outside) / outside[0].numel()
    refined = torch.zeros_like(pseudo)
    kappa = torch.zeros_like(pseudo)
    if sam is not None:
        sam = sam.float()
        present = _sum(sam) > 0  # the code drops the term when it is NaN, i.e. when S is empty
        raw = score(sam * (1 - weight(sam, sigma_mask)))
        # Dropped samples get a harmless score so that no NaN or inf reaches the gradient.
        refined = torch.where(present, exp_log(torch.where(present, raw, torch.full_like(raw, 0.5)), phi), refined)
        kappa = torch.where(present, soft_dice(sam, ddpt), kappa)
    total = pseudo + beta * background + alpha * false_positive + kappa * refined
    return DecoderLossTerms(pseudo, background, false_positive, refined, kappa, total)


def point_activation_loss(activations: torch.Tensor, labels: torch.Tensor, phi: float = 0.3) -> torch.Tensor:
    """L_PA = batch mean of EL(Dice(a, y)) over the k points."""
    return exp_log(soft_dice(activations.float(), labels.float()), phi).mean()


def structure_loss(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_Struct = batch mean of MSE(ξ[y=1], +1) + MSE(ξ[y=0], -1); an empty set's term is skipped."""
    embeddings = embeddings.float()
    active = labels.float().unsqueeze(-1)  # (B, k, 1)
    dim = embeddings.shape[-1]
    n_active = active.flatten(1).sum(1)
    n_inactive = labels.shape[1] - n_active
    err_active = _sum(active * (embeddings - 1) ** 2) / (n_active * dim).clamp_min(1)
    err_inactive = _sum((1 - active) * (embeddings + 1) ** 2) / (n_inactive * dim).clamp_min(1)
    return (err_active + err_inactive).mean()


def alignment_loss(
    embeddings: torch.Tensor, target: torch.Tensor, reduction: Literal["mean", "sum"] = "mean"
) -> torch.Tensor:
    """‖ξ_j - ξ_bridge‖² per sample, batch mean; ``mean`` over elements or the paper's ``sum`` (§11)."""
    squared = (embeddings.float() - target.float()) ** 2
    per_sample = squared.flatten(1).sum(1) if reduction == "sum" else squared.flatten(1).mean(1)
    return per_sample.mean()


def scaled_sigma(sigma: float, output_size: int) -> float:
    """σ given at the paper's 256² output, scaled to another output size."""
    return sigma * output_size / 256
