"""AME-CAM's three training stages, each through the core loop with its own checkpoint directory.

Stage 0 (SimCLR) pre-trains the backbone, stage 1 trains the multi-exit classifier on
the slice labels and stage 2 the attention aggregation network with the classifier
frozen (baselines.md §1). Each stage resumes from its ``last.pt`` when interrupted.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from wsad_baselines._amecam_augment import simclr_view
from wsad_baselines._amecam_losses import aggregation_loss, multi_exit_bce, nt_xent
from wsad_baselines.config_amecam import AmeCamOptions
from wsad_baselines.torch_amecam import AttentionAggregator, MultiExitClassifier, SimCLRModel
from wsad_core import BuildContext, SliceSet
from wsad_core.reconstruction.data import LazyBatches
from wsad_core.reconstruction.resize import batch_to_size
from wsad_core.reconstruction.seeding import seeded_init
from wsad_core.training import TrainingHistory, minibatch_indices, train

__all__ = ["LabelledSlices", "auc", "train_aggregator", "train_classifier", "train_simclr"]

_ETA_MIN = 5e-6  # §1: stages 1 and 2 decay to 5e-6
_SIMCLR_STREAM, _CLASSIFIER_STREAM, _AGGREGATOR_STREAM = 21, 22, 23


@dataclass(frozen=True, slots=True)
class LabelledSlices:
    """Slices with image-level labels 0/1, turned into network inputs batch by batch.

    Attributes:
        slices: the source slices.
        index: positions used.
        size: network input side, or ``None`` for the slice size.
        device: where batches go.
    """

    slices: SliceSet
    index: np.ndarray
    size: int | None
    device: torch.device

    def __len__(self) -> int:
        return int(self.index.size)

    def inputs(self, positions: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Network inputs at ``positions`` of :attr:`index` (see :func:`network_input`)."""
        chosen = self.index[np.asarray(positions, dtype=np.int64)]
        return network_input(self.slices.images[chosen], self.size, self.device)

    def labels(self, positions: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Float labels ``(B,)`` at ``positions`` on the device."""
        chosen = self.index[np.asarray(positions, dtype=np.int64)]
        return torch.from_numpy(self.slices.labels[chosen].astype(np.float32)).to(self.device)


def network_input(images: np.ndarray, size: int | None, device: torch.device) -> torch.Tensor:
    """Images resized to ``size``; a single grey channel is replicated to RGB as in the paper (§1)."""
    tensor = batch_to_size(images, size, device)
    return tensor.expand(-1, 3, -1, -1).contiguous() if tensor.shape[1] == 1 else tensor


def stem_channels(modalities: int) -> int:
    """Input channels of the backbone: 3 for grey slices (RGB-replicated), else one per modality."""
    return 3 if modalities == 1 else modalities


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties averaged); ``nan`` without both classes."""
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = stats.rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _hold_then_cosine(epochs: int, hold: int) -> Callable[[int], float]:
    # The official stage 0 steps its cosine schedule only from epoch `hold` on.
    def factor(epoch: int) -> float:
        steps = max(0, epoch + 1 - max(hold, 1))
        return 0.5 * (1 + math.cos(math.pi * min(steps, epochs) / epochs))

    return factor


def train_simclr(
    context: BuildContext, options: AmeCamOptions, data: LabelledSlices, in_channels: int, checkpoint_dir: Path
) -> tuple[SimCLRModel, TrainingHistory]:
    """Stage 0: SimCLR with NT-Xent, SGD and a cosine schedule (§1)."""
    model = seeded_init(context, _SIMCLR_STREAM, lambda: SimCLRModel(in_channels, options.width))
    optimizer = torch.optim.SGD(model.parameters(), lr=options.simclr_learning_rate, weight_decay=options.weight_decay)
    epochs = options.simclr_epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _hold_then_cosine(epochs, options.simclr_hold_epochs))

    def views(positions: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        images = data.inputs(positions)
        return simclr_view(images, generator), simclr_view(images, generator)

    def batches(epoch: int, generator: torch.Generator) -> LazyBatches:
        del epoch
        parts = minibatch_indices(len(data), options.simclr_batch_size, generator)
        return LazyBatches(parts, functools.partial(views, generator=generator))

    def loss_fn(net: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        first, second = batch
        return nt_xent(net(first), net(second), options.simclr_temperature, options.simclr_normalize)

    history = train(
        model=model,
        optimizer=optimizer,
        loss_fn=loss_fn,
        batches=batches,
        epochs=epochs,
        context=context,
        checkpoint_dir=checkpoint_dir,
        scheduler=scheduler,
        description="ame-cam simclr",
    )
    return model, history


def train_classifier(
    context: BuildContext,
    options: AmeCamOptions,
    data: LabelledSlices,
    validation: LabelledSlices | None,
    in_channels: int,
    pretrained: SimCLRModel | None,
    checkpoint_dir: Path,
) -> tuple[MultiExitClassifier, TrainingHistory]:
    """Stage 1: multi-exit classifier, weighted BCE, Adam + cosine; best validation AUC or last (§1)."""
    model = seeded_init(context, _CLASSIFIER_STREAM, lambda: MultiExitClassifier(in_channels, options.width))
    if pretrained is not None:  # copied by name, not by position as the official code does
        model.backbone.load_state_dict(pretrained.backbone.state_dict())
    optimizer = torch.optim.Adam(
        model.parameters(), lr=options.classifier_learning_rate, weight_decay=options.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, options.classifier_epochs, eta_min=_ETA_MIN)

    def batches(epoch: int, generator: torch.Generator) -> LazyBatches:
        del epoch
        parts = minibatch_indices(len(data), options.classifier_batch_size, generator)
        return LazyBatches(parts, lambda positions: (data.inputs(positions), data.labels(positions)))

    def loss_fn(net: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        images, labels = batch
        return multi_exit_bce(net(images)[0], labels, options.exit_weights)

    def validate(held: LabelledSlices) -> float:
        scores = []
        for positions in minibatch_indices(len(held), options.predict_batch_size, torch.Generator(), shuffle=False):
            scores.append(model(held.inputs(positions))[0][:, -1].float().cpu().numpy())
        return 1.0 - auc(np.concatenate(scores), held.slices.labels[held.index])

    history = train(
        model=model,
        optimizer=optimizer,
        loss_fn=loss_fn,
        batches=batches,
        epochs=options.classifier_epochs,
        context=context,
        checkpoint_dir=checkpoint_dir,
        scheduler=scheduler,
        validate=None if validation is None else functools.partial(validate, validation),
        selection="last" if validation is None else "best-validation",
        description="ame-cam classifier",
    )
    return model, history


def train_aggregator(
    context: BuildContext,
    options: AmeCamOptions,
    data: LabelledSlices,
    classifier: MultiExitClassifier,
    checkpoint_dir: Path,
) -> tuple[AttentionAggregator, TrainingHistory]:
    """Stage 2: attention aggregation with the classifier frozen; SimMax/SimMin losses; last epoch (§1)."""
    model = seeded_init(context, _AGGREGATOR_STREAM, AttentionAggregator)
    classifier.eval().requires_grad_(False)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=options.aggregation_learning_rate, weight_decay=options.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, options.aggregation_epochs, eta_min=_ETA_MIN)

    def batches(epoch: int, generator: torch.Generator) -> LazyBatches:
        del epoch
        return LazyBatches(minibatch_indices(len(data), options.aggregation_batch_size, generator), data.inputs)

    def loss_fn(net: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            _, cams = classifier.upsampled_cams(images)
        grey = images.mean(dim=1, keepdim=True)
        return aggregation_loss(grey, net(grey, cams.float()), options.rank_alpha)

    history = train(
        model=model,
        optimizer=optimizer,
        loss_fn=loss_fn,
        batches=batches,
        epochs=options.aggregation_epochs,
        context=context,
        checkpoint_dir=checkpoint_dir,
        scheduler=scheduler,
        description="ame-cam aggregation",
    )
    return model, history
