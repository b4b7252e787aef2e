"""Tiny synthetic slices with known lesions, for plugin tests (no files, no downloads)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wsad_core.types import Label, MaskSet, ReferenceSlices, SliceSet

__all__ = ["ToyBatch", "toy_batch", "toy_volumes"]


@dataclass(frozen=True, slots=True)
class ToyBatch:
    """Train and test slices of a few toy "patients".

    Attributes:
        train: labelled training slices (half anomalous).
        train_truth: lesion masks of ``train`` (for building pseudo-masks in tests only).
        test: test slices with labels hidden.
        test_truth: lesion masks of ``test``.
        reference: ground truth of ``test`` for evaluators.
    """

    train: SliceSet
    train_truth: np.ndarray
    test: SliceSet
    test_truth: np.ndarray
    reference: ReferenceSlices

    def pseudo_masks(self) -> MaskSet:
        """Pseudo-masks for ``train`` equal to its truth (a stand-in for a generator)."""
        return MaskSet(self.train_truth.astype(np.float32), self.train_truth.copy(), "toy-truth")


def _slices(
    rng: np.random.Generator, n: int, size: int, channels: int, case_prefix: str
) -> tuple[SliceSet, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    brain = ((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.36) ** 2 <= 1.0
    images = np.zeros((n, channels, size, size), np.float32)
    truth = np.zeros((n, size, size), bool)
    labels = np.zeros(n, np.int8)
    for i in range(n):
        tissue = 0.45 + 0.08 * np.sin(11 * xx + i) * np.cos(7 * yy) + rng.normal(0, 0.03, (size, size))
        if i % 2 == 1:
            cy, cx = rng.uniform(0.35, 0.65, 2)
            radius = rng.uniform(0.08, 0.14)
            truth[i] = (((yy - cy) ** 2 + (xx - cx) ** 2) <= radius**2) & brain
            tissue = tissue + 0.4 * truth[i]
            labels[i] = Label.ANOMALOUS
        for c in range(channels):
            images[i, c] = np.clip(tissue * (1.0 - 0.1 * c), 0.0, 1.0) * brain
    case_ids = tuple(f"{case_prefix}{i // 4:02d}" for i in range(n))
    slice_set = SliceSet(
        images=images,
        brain_masks=np.repeat(brain[None], n, axis=0),
        labels=labels,
        case_ids=case_ids,
        slice_indices=np.asarray([20 + i % 4 for i in range(n)], np.int32),
        modalities=("flair", "t1", "t1ce", "t2")[:channels],
    )
    return slice_set, truth


def toy_batch(*, n_train: int = 16, n_test: int = 8, size: int = 64, channels: int = 1, seed: int = 0) -> ToyBatch:
    """Toy slices: an elliptic "brain" with texture; odd slices carry a bright disc (the lesion).

    Args:
        n_train: training slices (label alternates healthy / anomalous).
        n_test: test slices.
        size: height and width.
        channels: number of modalities (flair, t1, t1ce, t2 in that order).
        seed: seed of the noise and lesion placement.
    """
    rng = np.random.default_rng(seed)
    train, train_truth = _slices(rng, n_train, size, channels, "train")
    test_labelled, test_truth = _slices(rng, n_test, size, channels, "test")
    reference = ReferenceSlices(
        masks=test_truth,
        brain_masks=test_labelled.brain_masks.copy(),
        case_ids=test_labelled.case_ids,
        slice_indices=test_labelled.slice_indices,
    )
    return ToyBatch(train, train_truth, test_labelled.with_labels_hidden(), test_truth, reference)


def toy_volumes(
    n: int = 16, *, size: int = 32, seed: int = 0, labels: int = Label.HEALTHY, texture: float = 0.0
) -> SliceSet:
    """Lesion-free toy slices in volumes of 8, for methods that learn the healthy appearance (reconstruction).

    Args:
        n: slices (volume ``v<i // 8>``, slice index ``i % 8``).
        size: height and width.
        seed: seed of the noise.
        labels: the label of every slice (``Label.UNKNOWN`` for test slices).
        texture: amplitude of a fixed sinusoidal tissue pattern on the flat 0.45 grey (0: none).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    brain = ((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.36) ** 2 <= 1
    pattern = 0.45 + texture * np.sin(9 * xx) * np.cos(5 * yy)
    images = (pattern + rng.normal(0, 0.05, (n, 1, size, size))).clip(0, 1).astype(np.float32) * brain
    return SliceSet(
        images=images,
        brain_masks=np.repeat(brain[None], n, axis=0),
        labels=np.full(n, labels, np.int8),
        case_ids=tuple(f"v{i // 8}" for i in range(n)),
        slice_indices=np.arange(n, dtype=np.int32) % 8,
        modalities=("t2",),
    )
