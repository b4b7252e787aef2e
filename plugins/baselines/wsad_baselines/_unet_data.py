"""Tensors for the ``unet`` baseline: which slices it trains on, batches, and its loss."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from wsad_core import ContractError, DataError, Label, MaskSet, SliceSet
from wsad_core.training import AugmentConfig, augment_pairs, minibatch_indices

__all__ = ["EpochBatches", "TrainingSlices", "segmentation_loss"]

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True, slots=True)
class TrainingSlices:
    """Positions into a :class:`SliceSet` and the binary target of each.

    Attributes:
        slices: the source slices (images are read per batch, never copied whole).
        index: positions of the slices used, ``(M,)``.
        targets: ``(M, H, W)`` bool targets: pseudo-masks, or empty for healthy slices.
        healthy: how many of the ``M`` are healthy-labelled slices with empty targets.
    """

    slices: SliceSet
    index: np.ndarray
    targets: np.ndarray
    healthy: int

    @classmethod
    def select(cls, slices: SliceSet, masks: MaskSet, *, include_healthy: bool, what: str) -> TrainingSlices:
        """Non-healthy slices with their pseudo-masks, plus healthy ones with empty masks if asked.

        Raises:
            ContractError: ``masks`` does not match ``slices``.
            DataError: no slice is left to train on.
        """
        if len(masks) != len(slices) or masks.masks.shape[1:] != slices.spatial_shape:
            raise ContractError(
                f"unet: {what} pseudo-masks {masks.masks.shape} do not match {what} slices "
                f"({len(slices)}, {slices.spatial_shape})"
            )
        healthy = slices.labels == Label.HEALTHY
        use = np.ones(len(slices), bool) if include_healthy else ~healthy
        index = np.flatnonzero(use)
        if index.size == 0:
            raise DataError(
                f"unet: no {what} slice to train on ({len(slices)} slices, all labelled healthy)",
                hint="set include_healthy_slices=true or provide anomalous slices",
            )
        # Healthy-labelled slices contain no lesion by their weak label, whatever the generator says.
        targets = np.where(healthy[index, None, None], False, masks.masks[index])
        return cls(slices, index, targets, int(healthy[index].sum()))

    def __len__(self) -> int:
        return int(self.index.size)

    def batch(self, positions: torch.Tensor) -> Batch:
        """Images ``(B, C, H, W)`` float32 and targets ``(B, 1, H, W)`` float32 at ``positions``."""
        chosen = np.sort(positions.numpy())
        images = torch.from_numpy(np.ascontiguousarray(self.slices.images[self.index[chosen]]))
        targets = torch.from_numpy(self.targets[chosen][:, None].astype(np.float32))
        return images, targets


class EpochBatches:
    """One epoch's batches, built lazily (a sized iterable, so progress bars get a total).

    Args:
        data: the training slices.
        batch_size: slices per batch.
        generator: the epoch's generator (shuffling and augmentation).
        augment: augmentations, or ``None`` (validation).
    """

    def __init__(
        self, data: TrainingSlices, batch_size: int, generator: torch.Generator, augment: AugmentConfig | None
    ) -> None:
        shuffle = augment is not None
        self._parts = minibatch_indices(len(data), batch_size, generator, shuffle=shuffle)
        self._data, self._generator, self._augment = data, generator, augment

    def __len__(self) -> int:
        return len(self._parts)

    def __iter__(self) -> Iterator[Batch]:
        for positions in self._parts:
            images, targets = self._data.batch(positions)
            if self._augment is not None:
                images, augmented = augment_pairs(images, targets, self._generator, self._augment)
                targets = targets if augmented is None else augmented
            yield images, targets


def segmentation_loss(logits: torch.Tensor, targets: torch.Tensor, dice_weight: float) -> torch.Tensor:
    """Mean BCE plus ``dice_weight`` times the soft Dice loss pooled over the batch.

    The Dice term is pooled over every pixel of the batch rather than averaged per slice,
    so slices with empty targets (healthy ones) do not make it undefined.
    """
    logits = logits.float()
    bce = F.binary_cross_entropy_with_logits(logits, targets)
    if dice_weight == 0:
        return bce
    probabilities = torch.sigmoid(logits)
    overlap = (probabilities * targets).sum()
    dice = (2 * overlap + 1.0) / (probabilities.sum() + targets.sum() + 1.0)
    return bce + dice_weight * (1 - dice)
