"""Training data of reconstruction methods: healthy slices resized per batch, lazily batched."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import torch

from wsad_core import DataError, Label, SliceSet
from wsad_core.reconstruction.resize import batch_to_size, masks_to_size

__all__ = ["HealthySlices", "LazyBatches"]

Batch = TypeVar("Batch")


@dataclass(frozen=True, slots=True)
class HealthySlices:
    """The healthy-labelled slices of a :class:`SliceSet`, read and resized batch by batch.

    Attributes:
        slices: the source slices (memory-mapped caches are never loaded whole).
        index: positions of the healthy-labelled slices.
        size: the method's square input size.
        device: where batches are placed.
    """

    slices: SliceSet
    index: np.ndarray
    size: int
    device: torch.device

    @classmethod
    def select(cls, slices: SliceSet, size: int, device: torch.device, *, method: str, what: str) -> HealthySlices:
        """The healthy-labelled slices of ``slices``.

        Raises:
            DataError: ``what`` is ``"training"`` and no slice is labelled healthy.
        """
        index = slices.where_label(Label.HEALTHY)
        if index.size == 0 and what == "training":
            raise DataError(
                f"{method}: none of the {len(slices)} training slices is labelled healthy (label 0)",
                hint="unsupervised baselines train on tumour-free slices; check the split and slice labels",
            )
        return cls(slices, index, size, device)

    def __len__(self) -> int:
        return int(self.index.size)

    def batch(self, positions: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(B, C, S, S)`` and brain masks ``(B, 1, S, S)`` (float) at ``positions`` of :attr:`index`."""
        chosen = self.index[np.asarray(positions, dtype=np.int64)]
        images = batch_to_size(self.slices.images[chosen], self.size, self.device)
        brain = masks_to_size(self.slices.brain_masks[chosen], self.size, self.device).float()
        return images, brain


class LazyBatches(Generic[Batch]):
    """A sized iterable building each batch only when reached (progress bars get a total).

    Args:
        parts: positions of each batch.
        make: turns positions into a batch; called in order, so any generator it draws
            from is consumed deterministically.
    """

    def __init__(self, parts: list[torch.Tensor], make: Callable[[torch.Tensor], Batch]) -> None:
        self._parts, self._make = parts, make

    def __len__(self) -> int:
        return len(self._parts)

    def __iter__(self) -> Iterator[Batch]:
        for positions in self._parts:
            yield self._make(positions)
