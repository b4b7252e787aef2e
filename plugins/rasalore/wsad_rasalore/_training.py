"""One training stage through the core loop: optimiser, schedule, batch loss, validation (§9).

SGD (lr 0.01, momentum 0.9, no weight decay) on every parameter of the network (Adam as
a labelled option for short runs); the
learning rate follows the official ``WarmUpLR(warmup_steps=1)``: epoch 0 at the base
rate, then ``lr·0.5^floor((e - 1)/20)`` for epoch ``e >= 1`` (0.01 for epochs 0-20, the
last of 200 epochs at 0.01/512). Checkpoint selection: the last epoch, the lowest loss on
validation pseudo-masks, or (``gt-val``) the best validation Dice against ground truth as
scored by the core, passed to the loop as the "validation loss" ``1 - Dice`` so that its
strict "lower is better" keeps the earlier of equal epochs and its ``best.pt`` and history
carry the choice through a resume. Dropout draws from the global generator, so each stage
runs inside ``torch.random.fork_rng`` seeded from the run seed: results do not depend on
what ran before, and the core loop's checkpoints restore the stream on resume.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from wsad_core.training import derive_seed, train
from wsad_rasalore._augment import PaperAugment
from wsad_rasalore._data import Batch, EpochBatches, Prepared
from wsad_rasalore.losses import (
    alignment_loss,
    decoder_loss,
    point_activation_loss,
    scaled_sigma,
    structure_loss,
)

if TYPE_CHECKING:
    from wsad_core import BuildContext
    from wsad_core.training import TrainingHistory
    from wsad_rasalore.config import Geometry, RasaloreOptions
    from wsad_rasalore.torch_model import RasaloreNet

__all__ = ["StagePlan", "batch_loss", "cosine_factor", "lr_factor", "run_stage", "warmed"]

_DROPOUT_STREAM = 3  # derive_seed key of the global (dropout) stream of each stage


def lr_factor(epoch: int, step: int = 20, decay: float = 0.5) -> float:
    """Learning-rate multiplier of 0-based ``epoch``: 1 at epoch 0, then ``decay^floor((epoch-1)/step)``."""
    return 1.0 if epoch < 1 else decay ** ((epoch - 1) // step)


def cosine_factor(epoch: int, epochs: int, warmup: int = 0, floor: float = 0.01) -> float:
    """Multiplier of 0-based ``epoch``: linear warm-up ``(e+1)/(warmup+1)``, then cosine from 1 to ``floor``.

    The last epoch runs at ``floor``; with ``warmup`` the first epoch runs at ``1/(warmup+1)``.
    """
    if epoch < warmup:
        return warmed(epoch, warmup)
    progress = min(1.0, (epoch - warmup) / max(1, epochs - 1 - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def warmed(epoch: int, warmup: int) -> float:
    """The linear warm-up multiplier ``min(1, (epoch+1)/(warmup+1))`` (1 without warm-up)."""
    return min(1.0, (epoch + 1) / (warmup + 1))


@dataclass(frozen=True, slots=True)
class StagePlan:
    """What one call of the core loop trains.

    Attributes:
        modalities: modalities trained, in channel order of the prepared images.
        target: frozen network giving ξ_bridge for the alignment loss (multimodal stage), or ``None``.
        bridge_channel: channel of the bridge modality in the prepared images.
        epochs: epochs of this stage.
        description: progress-bar label.
    """

    modalities: tuple[str, ...]
    target: RasaloreNet | None
    bridge_channel: int
    epochs: int
    description: str


def _images(batch: Batch, channel: int, device: torch.device, channels_last: bool) -> torch.Tensor:
    images = batch.images[:, channel : channel + 1].to(device)
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def batch_loss(
    net: RasaloreNet,
    batch: Batch,
    plan: StagePlan,
    options: RasaloreOptions,
    geometry: Geometry,
    device: torch.device,
) -> torch.Tensor:
    """L = L_Dec + L_PA + L_Struct (mean over modalities) + λ_align·Σ_j L_align,j (§8, §11)."""
    ddpt = batch.ddpt.to(device)
    sam = None if batch.sam is None else batch.sam.to(device)
    labels = batch.labels.to(device)
    sigma = functools.partial(scaled_sigma, output_size=geometry.output_size)
    target = None
    if plan.target is not None:
        with torch.no_grad():
            bridge = _images(batch, plan.bridge_channel, device, options.channels_last)
            target = plan.target.embeddings(bridge, plan.modalities[plan.bridge_channel])
    total = torch.zeros((), device=device)
    align = torch.zeros((), device=device)
    for channel, modality in enumerate(plan.modalities):
        out = net(_images(batch, channel, device, options.channels_last), modality)
        probs = torch.sigmoid(out.logits.float())[:, 0]
        terms = decoder_loss(
            probs,
            ddpt,
            sam,
            alpha=options.alpha,
            beta=options.beta,
            delta=options.tversky_delta,
            phi=options.el_phi,
            sigma_mask=sigma(options.sigma_mask),
            sigma_background=sigma(options.sigma_background),
            overlap=options.overlap,
            reference=options.implementation == "reference",
        )
        total = total + terms.total.mean()
        if options.point_weight:
            total = total + options.point_weight * point_activation_loss(out.activations, labels, options.el_phi)
        if options.structure_weight:
            total = total + options.structure_weight * structure_loss(out.embeddings, labels)
        if target is not None:
            align = align + alignment_loss(out.embeddings, target, options.align_reduction)
    return total / len(plan.modalities) + options.align_weight * align


def run_stage(
    net: RasaloreNet,
    train_data: Prepared,
    held_out: Prepared | None,
    plan: StagePlan,
    options: RasaloreOptions,
    geometry: Geometry,
    context: BuildContext,
    checkpoint_dir: Path,
    validation_dice: Callable[[RasaloreNet], float] | None = None,
    monitor: Callable[[int], dict[str, float]] | None = None,
) -> TrainingHistory:
    """Train ``net`` on ``train_data`` with the core loop (checkpoint per epoch, resume, progress).

    Args:
        net: the network to train (holds the selected epoch's weights on return).
        train_data: prepared training slices.
        held_out: prepared validation slices with pseudo-masks (``val-loss``), or ``None``.
        plan: modalities, alignment target, epochs and label of the stage.
        options: the segmenter's options.
        geometry: the network's size.
        context: device, seed, progress and logger.
        checkpoint_dir: where the core loop keeps ``last.pt`` and ``best.pt``.
        validation_dice: for ``selection="gt-val"``: ``net -> Dice`` of its validation maps
            against ground truth; the best epoch is kept.
        monitor: ``epoch -> values`` after every epoch, for the learning curve only.
    """
    device = context.torch_device()
    net.to(device)
    if options.channels_last:
        net.to(memory_format=torch.channels_last)
    parameters = [p for p in net.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if options.optimizer == "adam":
        optimizer = torch.optim.Adam(parameters, lr=options.learning_rate, weight_decay=options.weight_decay)
    elif options.optimizer == "adamw":
        optimizer = torch.optim.AdamW(parameters, lr=options.learning_rate, weight_decay=options.weight_decay)
    else:
        optimizer = torch.optim.SGD(
            parameters, lr=options.learning_rate, momentum=options.momentum, weight_decay=options.weight_decay
        )
    warmup = options.warmup_epochs
    factor: Callable[[int], float]
    if options.schedule == "cosine":
        factor = functools.partial(cosine_factor, epochs=plan.epochs, warmup=warmup, floor=options.min_lr_fraction)
    else:
        step = functools.partial(lr_factor, step=options.lr_step_epochs, decay=options.lr_decay)
        factor = functools.partial(_step_warmed, step, warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    augment = PaperAugment(quantize=options.quantize_8bit) if options.augment else None
    side = geometry.grid_side

    def batches(epoch: int, generator: torch.Generator) -> EpochBatches:
        del epoch
        return EpochBatches(train_data, options.batch_size, generator, side, augment)

    # Forward through the model it is given: under torchrun that is the DDP wrapper.
    def loss_fn(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return batch_loss(model, batch, plan, options, geometry, device)

    validate: Callable[[], float] | None = None
    if validation_dice is not None:
        validate = functools.partial(_dice_loss, validation_dice, net)
    elif held_out is not None and len(held_out):
        validate = functools.partial(
            _validation_loss, held_out, options.predict_batch_size, side, functools.partial(loss_fn, net)
        )
    selection = "best-validation" if options.selection in ("val-loss", "gt-val") else "last"
    devices: Sequence[int] = [torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(derive_seed(context.seed, _DROPOUT_STREAM, len(plan.modalities)))
        return train(
            model=net,
            optimizer=optimizer,
            loss_fn=loss_fn,
            batches=batches,
            epochs=plan.epochs,
            context=context,
            checkpoint_dir=checkpoint_dir,
            scheduler=scheduler,
            validate=validate,
            selection=selection,
            monitor=monitor,
            description=plan.description,
        )


def _step_warmed(step: Callable[[int], float], warmup: int, epoch: int) -> float:
    return step(epoch) * warmed(epoch, warmup)


def _validation_loss(held_out: Prepared, batch_size: int, side: int, loss_fn: Callable[[Batch], torch.Tensor]) -> float:
    # Un-augmented, in order; the loss of each batch weighted by its size.
    total = 0.0
    for batch in EpochBatches(held_out, batch_size, torch.Generator(), side, None):
        total += float(loss_fn(batch)) * len(batch.images)
    return total / len(held_out)


def _dice_loss(validation_dice: Callable[[RasaloreNet], float], net: RasaloreNet) -> float:
    # The core loop keeps the lowest value, the first of equal ones: 1 - Dice keeps the best Dice,
    # the earlier epoch on a tie (Dice in [0, 1], so 1 - Dice is exact enough to preserve its order).
    return 1.0 - float(validation_dice(net))
