"""Fixtures of the wsad-medsam tests: synthetic discs, CPU contexts and a geometry-only stand-in model."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from wsad_core import BuildContext, MaskSet, SliceSet


def disc(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    """A bool disc of ``radius`` around ``centre`` = (row, col)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def slices_of(images: np.ndarray, modalities: tuple[str, ...] = ("flair",)) -> SliceSet:
    """A test-time SliceSet (labels hidden) of ``(N, C, H, W)`` images with all-brain masks."""
    n, _, h, w = images.shape
    return SliceSet(
        images=images.astype(np.float32),
        brain_masks=np.ones((n, h, w), bool),
        labels=np.full(n, -1, np.int8),
        case_ids=tuple(f"case{i}" for i in range(n)),
        slice_indices=np.arange(n, dtype=np.int32),
        modalities=modalities,
    )


def masks_of(masks: np.ndarray) -> MaskSet:
    """A MaskSet of bool ``(N, H, W)`` masks."""
    return MaskSet(masks.astype(np.float32), masks.astype(bool), "test")


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Pooled Dice of two bool arrays."""
    return float(2 * (prediction & truth).sum() / max(prediction.sum() + truth.sum(), 1))


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Inclusive (x0, y0, x1, y1) of a non-empty bool mask."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


class _Encoder(nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.zeros(images.shape[0], 256, 64, 64)


class _Prompts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.last: tuple[object, object] = (None, None)

    def get_dense_pe(self) -> None:
        return None

    def forward(self, points: object, boxes: torch.Tensor | None, masks: None) -> tuple[object, None]:
        self.last = (points, boxes)
        return (points, boxes), None


class _Painter(nn.Module):
    """Paints each box prompt (and the output pixel under each point) as +20 logits on a 256² grid.

    Output pixel j covers input coordinates [j, j + 1) · input_size / 256, as a real SAM decoder's
    up-sampled mask does, so the painted mask is the prompt itself seen through the model's frames.
    """

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.factor = 256 / input_size

    def forward(self, *, image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings, **_):
        points, boxes = sparse_prompt_embeddings
        count = (boxes if boxes is not None else points[0]).shape[0]
        centres = torch.arange(256, dtype=torch.float64) + 0.5
        logits = torch.full((count, 1, 256, 256), -20.0)
        for k in range(count):
            if boxes is not None:
                x0, y0, x1, y1 = (float(v) for v in boxes[k, 0])
                inside_x = (centres >= x0 * self.factor) & (centres < (x1 + 1) * self.factor)
                inside_y = (centres >= y0 * self.factor) & (centres < (y1 + 1) * self.factor)
                logits[k, 0][inside_y[:, None] & inside_x[None, :]] = 20.0
            else:
                for x, y in points[0][k].tolist():
                    col, row = int((x + 0.5) * self.factor), int((y + 0.5) * self.factor)
                    logits[k, 0, row, col] = 20.0
        return logits, None


class PainterModel(nn.Module):
    """A stand-in for a SAM-style model that only exercises preprocessing and coordinate frames."""

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.image_encoder = _Encoder()
        self.prompt_encoder = _Prompts()
        self.mask_decoder = _Painter(input_size)


@pytest.fixture
def context(tmp_path: Path) -> BuildContext:
    """A CPU build context with seed 0."""
    return BuildContext(device="cpu", seed=0, work_dir=tmp_path / "work", logger=logging.getLogger("wsad.test"))


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The builders above (test modules cannot import conftest under --import-mode=importlib)."""
    return SimpleNamespace(
        disc=disc, slices_of=slices_of, masks_of=masks_of, dice=dice, tight_box=tight_box, PainterModel=PainterModel
    )
