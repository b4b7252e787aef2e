"""Synthetic slices for the rasalore tests: an elliptic brain, textured tissue, a bright lesion blob,
and noisy pseudo-masks (shifted, resized, with spurious blobs) standing in for a generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from wsad_core import Label, MaskSet, SliceSet

# A tiny network for 32² toy slices: 16² input (32² output), k = 16 points, d = 16, convolutions / 8.
TINY = {
    "input_size": 16,
    "num_points": 16,
    "embed_dim": 16,
    "width_divisor": 8,
    "batch_size": 8,
    "quantize_8bit": True,
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread per test module (module scope: class-scoped fixtures run under it too).

    On a shared 2-core machine two threads oversubscribe and run 2-10x slower; results are
    bit-identical only for a fixed thread count.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class Toy:
    """Slices, their exact lesion masks and noisy pseudo-masks."""

    slices: SliceSet
    truth: np.ndarray
    noisy: np.ndarray

    def truth_masks(self) -> MaskSet:
        return MaskSet(self.truth.astype(np.float32), self.truth.copy(), "truth")

    def noisy_masks(self) -> MaskSet:
        return MaskSet(self.noisy.astype(np.float32), self.noisy.copy(), "noisy")


def _disc(yy, xx, cy, cx, r):
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def make_toy(
    n: int, size: int = 32, *, seed: int = 0, channels: int = 1, anomalous_every: int = 1, hidden: bool = False
) -> Toy:
    """``n`` slices; every ``anomalous_every``-th one holds a bright disc (the rest are healthy)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy0, cx0 = size * 0.52, size * 0.47  # off-centre, non-square brain
    brain = ((yy - cy0) / (0.40 * size)) ** 2 + ((xx - cx0) / (0.33 * size)) ** 2 <= 1
    images = np.zeros((n, channels, size, size), np.float32)
    truth = np.zeros((n, size, size), bool)
    noisy = np.zeros((n, size, size), bool)
    labels = np.zeros(n, np.int8)
    for i in range(n):
        tissue = 0.42 + 0.06 * np.sin(0.3 * xx + i) * np.cos(0.2 * yy) + rng.normal(0, 0.04, (size, size))
        if i % anomalous_every == 0:
            cy, cx = cy0 + rng.uniform(-0.18, 0.18) * size, cx0 + rng.uniform(-0.15, 0.15) * size
            r = rng.uniform(0.10, 0.15) * size
            truth[i] = _disc(yy, xx, cy, cx, r) & brain
            tissue = tissue + 0.35 * truth[i]
            # Like a coarse attention map: too large, shifted, sometimes with a spurious blob.
            dy, dx = rng.uniform(-0.1, 0.1, 2) * size
            noisy[i] = _disc(yy, xx, cy + dy, cx + dx, r * rng.uniform(1.2, 1.7)) & brain
            if rng.random() < 0.7:
                sy, sx = cy0 + rng.uniform(-0.3, 0.3) * size, cx0 + rng.uniform(-0.25, 0.25) * size
                noisy[i] |= _disc(yy, xx, sy, sx, rng.uniform(0.05, 0.09) * size) & brain
            labels[i] = Label.ANOMALOUS
        for c in range(channels):
            images[i, c] = np.clip(tissue * (1 - 0.15 * c), 0, 1) * brain
    if hidden:
        labels[:] = Label.UNKNOWN
    slices = SliceSet(
        images=images,
        brain_masks=np.repeat(brain[None], n, axis=0),
        labels=labels,
        case_ids=tuple(f"case{i // 8:02d}" for i in range(n)),
        slice_indices=np.arange(n, dtype=np.int32) % 8 + 20,
        modalities=("flair", "t1", "t1ce", "t2")[:channels],
    )
    return Toy(slices, truth, noisy)


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Dice pooled over all pixels."""
    return float(2 * (prediction & truth).sum() / max(prediction.sum() + truth.sum(), 1))


@pytest.fixture
def context_factory(wsad_context_factory):
    """The core's ``wsad_context_factory`` (CPU contexts with their own work directories)."""
    return wsad_context_factory


@pytest.fixture(name="make_toy")
def make_toy_fixture():
    """The :func:`make_toy` builder."""
    return make_toy


@pytest.fixture(name="dice")
def dice_fixture():
    """The pooled :func:`dice` score."""
    return dice


@pytest.fixture(name="tiny")
def tiny_fixture():
    """The :data:`TINY` options (a fresh copy)."""
    return dict(TINY)
