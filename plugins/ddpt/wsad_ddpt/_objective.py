"""DDPT's training loss and optimiser (R§3.3 steps 1, 4–6).

Loss, for images with labels y (0 healthy, 1 anomalous) and logit scale s:

* ``out = s·f·t̂ᵀ`` (prompted image vs learned text), ``out1 = s·f₀·t̂ᵀ`` (frozen image vs learned text),
  ``out2 = s·f·hᵀ`` (prompted image vs hand-crafted text);
* epochs < C ("general-knowledge guidance"): ``CE(out1) + CE(out2) + 0.1·CE(out)``; later ``CE(out)``;
* always ``+ η·CE(aux)`` on the CAVPT prompt whose class is y.

The zero-shot ranking of the CAVPT queries (K = min(K, C)) only orders the appended prompts, and
self-attention is permutation-equivariant, so with K = C the ranking changes nothing; the frozen
image forward is then skipped whenever ``out1`` is not needed (after epoch C).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from wsad_ddpt.config import DDPTOptions
    from wsad_ddpt.torch_model import DDPTNetwork

__all__ = ["GENERAL_KNOWLEDGE_OUT_WEIGHT", "build_optimizer", "ddpt_loss", "lr_factor"]

GENERAL_KNOWLEDGE_OUT_WEIGHT = 0.1  # weight of CE(out) during the first C epochs (code, R§3.3 step 5)


def _queries(network: DDPTNetwork, text: torch.Tensor, f0: torch.Tensor | None, k: int, scale: float) -> torch.Tensor:
    """``(B, K)`` class indices whose text features become the CAVPT queries."""
    n_classes = text.shape[0]
    if k >= n_classes or f0 is None:
        batch = 1 if f0 is None else f0.shape[0]
        return torch.arange(n_classes, device=text.device).expand(batch, -1)
    hand = F.normalize(network.handcrafted, dim=-1)
    return (scale * f0 @ hand.T).argsort(dim=-1, descending=True)[:, :k]


def ddpt_loss(
    network: DDPTNetwork, images: torch.Tensor, labels: torch.Tensor, *, epoch: int, options: DDPTOptions
) -> torch.Tensor:
    """The DDPT training loss of one batch (scalar)."""
    scale = network.logit_scale(options.logit_scale)
    general = epoch < options.general_knowledge_epochs
    k = min(options.class_prompts, network.n_classes)
    hand = F.normalize(network.handcrafted, dim=-1)
    # H1 training feeds the normalised hand-crafted features where the learned ones would go (code).
    text = network.learned_text() if options.train_text == "learned" else hand
    f0 = network.zero_shot_image(images) if general or k < network.n_classes else None
    ranked = _queries(network, text, f0, k, scale).expand(images.shape[0], -1)
    features, aux, _ = network.prompted_image(images, text[ranked])
    f = F.normalize(features.float(), dim=-1)
    t_hat = F.normalize(text.float(), dim=-1)
    out = scale * f @ t_hat.T
    if general:
        out1 = scale * f0.float() @ t_hat.T
        out2 = scale * f @ hand.float().T
        loss = F.cross_entropy(out1, labels) + F.cross_entropy(out2, labels)
        loss = loss + GENERAL_KNOWLEDGE_OUT_WEIGHT * F.cross_entropy(out, labels)
    else:
        loss = F.cross_entropy(out, labels)
    chosen = ranked == labels[:, None]  # the prompt built from the true class's text
    if options.aux_weight and bool(chosen.any()):
        targets = labels[:, None].expand_as(ranked)[chosen]
        loss = loss + options.aux_weight * F.cross_entropy(aux.float()[chosen], targets)
    return loss


def lr_factor(epoch: int, *, base: float, warmup_epochs: int, warmup_lr: float, epochs: int) -> float:
    """Dassl's constant warm-up then cosine (T_max = epochs), as a factor of ``base``.

    Epochs ``< warmup_epochs`` run at ``warmup_lr``; epoch ``e ≥ warmup_epochs`` at
    ``base·½(1 + cos(π·(e − warmup_epochs)/epochs))`` — the successor cosine starts only after the
    warm-up, so with 10 + 60 it never reaches 0 within the 60 epochs (R§3.3 step 6).
    """
    if epoch < warmup_epochs:
        return warmup_lr / base
    return 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup_epochs) / epochs))


def build_optimizer(
    network: DDPTNetwork, options: DDPTOptions
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LambdaLR]:
    """SGD over the prompts in two groups (VPT + CAVPT at ``lr``, CoOp at ``coop_lr``) with per-epoch schedules."""
    visual, text = network.prompts.param_groups()
    groups = [{"params": visual, "lr": options.lr}, {"params": text, "lr": options.coop_lr}]
    optimizer = torch.optim.SGD(groups, lr=options.lr, momentum=options.momentum, weight_decay=options.weight_decay)
    schedules = [(options.lr, options.warmup_epochs), (options.coop_lr, options.coop_warmup_epochs)]
    lambdas = [
        lambda e, b=base, w=warm: lr_factor(
            e, base=b, warmup_epochs=w, warmup_lr=options.warmup_lr, epochs=options.epochs
        )
        for base, warm in schedules
    ]
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
