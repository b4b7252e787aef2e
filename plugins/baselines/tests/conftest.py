"""Synthetic slices for the baseline tests: an elliptic 'brain' with noisy tissue and bright discs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from wsad_core import Label, MaskSet, SliceSet


@dataclass(frozen=True)
class Toy:
    """Slices plus their exact lesion masks (for scoring only)."""

    slices: SliceSet
    truth: np.ndarray

    def truth_masks(self) -> MaskSet:
        return MaskSet(self.truth.astype(np.float32), self.truth.copy(), "truth")


def make_toy(
    n: int, size: int = 48, *, seed: int = 0, channels: int = 1, contrast: float = 0.35, hidden: bool = False
) -> Toy:
    """``n`` slices; odd ones hold a bright disc and are labelled anomalous (UNKNOWN when ``hidden``)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    brain = ((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.36) ** 2 <= 1
    images = np.zeros((n, channels, size, size), np.float32)
    truth = np.zeros((n, size, size), bool)
    labels = np.zeros(n, np.int8)
    for i in range(n):
        tissue = 0.45 + rng.normal(0, 0.05, (size, size))
        if i % 2:
            cy, cx = rng.uniform(0.38, 0.62, 2)
            radius = rng.uniform(0.08, 0.13)
            truth[i] = (((yy - cy) ** 2 + (xx - cx) ** 2) <= radius**2) & brain
            tissue = tissue + contrast * truth[i]
            labels[i] = Label.ANOMALOUS
        for c in range(channels):
            images[i, c] = np.clip(tissue * (1 - 0.1 * c), 0, 1) * brain
    if hidden:
        labels[:] = Label.UNKNOWN
    slices = SliceSet(
        images=images,
        brain_masks=np.repeat(brain[None], n, axis=0),
        labels=labels,
        case_ids=tuple(f"case{i // 8:02d}" for i in range(n)),
        slice_indices=np.arange(n, dtype=np.int32) % 8,
        modalities=("flair", "t1", "t1ce", "t2")[:channels],
    )
    return Toy(slices, truth)


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Dice pooled over all pixels."""
    return float(2 * (prediction & truth).sum() / max(prediction.sum() + truth.sum(), 1))


@pytest.fixture
def context_factory(wsad_context_factory):
    """The core's ``wsad_context_factory`` (CPU contexts with their own work directories)."""
    return wsad_context_factory


@pytest.fixture(name="make_toy", scope="session")
def make_toy_fixture():
    """The :func:`make_toy` builder (session scope: module fixtures build their data with it too)."""
    return make_toy


@pytest.fixture(name="dice")
def dice_fixture():
    """The pooled :func:`dice` score."""
    return dice
