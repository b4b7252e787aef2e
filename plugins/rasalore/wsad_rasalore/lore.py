"""Location-based random embeddings (LoRE) and the candidate-point grid (shared/docs/rasalore.md §5).

Candidate prompt points lie on a ``sqrt(k) x sqrt(k)`` grid over a nominal 256² image with
gap ``256 // sqrt(k)`` (8 for k = 1024); token ``sqrt(k)·i + j`` is the point at row
``gap·i``, column ``gap·j`` (row-major, the order of the point labels and of RASA).

Each point's embedding is a SAM-style random Fourier feature with the official code's
unusual scale: ``u = 2·(row, col)/256 - 1``, ``G = floor(d/2 · z)`` with ``z ~ N(0, 1)``
(shape 2 × d/2; std ≈ 128 at d = 256), ``φ = 2π·u·G``, ``e = [sin φ, cos φ] + b`` with one
shared ``b ~ N(0, 1)^d``. The official script draws ``G`` and then ``b`` from an unseeded
global generator; here both come, in that order, from a generator seeded with
``lore_seed`` (§12 #3), and the tensor's sha256 is stored with the model.
"""

from __future__ import annotations

import hashlib
import math
from typing import Literal

import numpy as np
import torch

__all__ = ["NOMINAL_SIZE", "candidate_points", "lore_embedding", "lore_sha256", "point_labels"]

NOMINAL_SIZE = 256  # §5: the grid is laid over a nominal 256² image


def candidate_points(num_points: int) -> np.ndarray:
    """(k, 2) integer (row, col) positions of the candidate points on the nominal 256² image.

    Raises:
        ValueError: ``num_points`` is not a square number.
    """
    side = math.isqrt(num_points)
    if side * side != num_points:
        raise ValueError(f"num_points must be a square number, got {num_points}")
    gap = NOMINAL_SIZE // side
    rows, cols = np.meshgrid(np.arange(side) * gap, np.arange(side) * gap, indexing="ij")
    return np.stack([rows.ravel(), cols.ravel()], axis=1)


def lore_embedding(
    num_points: int, embed_dim: int, seed: int, variant: Literal["official", "smooth", "learned"] = "official"
) -> torch.Tensor:
    """The (k, d) float32 LoRE table for ``seed``.

    Args:
        num_points: k, a square number.
        embed_dim: d, even.
        seed: seed of the generator drawing the Fourier matrix and the shared offset.
        variant: ``"official"`` (``floor(d/2 · z)``), ``"smooth"`` (``z``, SAM's scale) or ``"learned"``
            (the no-LoRE ablation: i.i.d. N(0, 1) entries without any location code, the initial value of
            a table the network trains).

    Raises:
        ValueError: ``embed_dim`` is odd or ``num_points`` not square.
    """
    if embed_dim % 2:
        raise ValueError(f"embed_dim must be even, got {embed_dim}")
    generator = torch.Generator().manual_seed(int(seed) & ((1 << 63) - 1))
    if variant == "learned":
        candidate_points(num_points)  # the same check of k as the location codes
        return torch.randn((num_points, embed_dim), generator=generator)
    gaussian = torch.randn((2, embed_dim // 2), generator=generator)
    # The code writes `torch.randn(2, 128) * embed_dim // 2`, i.e. floor(128 z) at d = 256.
    matrix = torch.floor(gaussian * embed_dim / 2) if variant == "official" else gaussian
    offset = torch.randn((1, embed_dim), generator=generator)  # the first box embedding, N(0, 1)
    coords = torch.from_numpy(candidate_points(num_points)).float() / NOMINAL_SIZE
    phase = 2 * math.pi * ((2 * coords - 1) @ matrix)
    return torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1) + offset


def lore_sha256(table: torch.Tensor) -> str:
    """sha256 of the table's float32 bytes (little-endian, row-major)."""
    array = np.ascontiguousarray(table.detach().cpu().float().numpy()).astype("<f4", copy=False)
    return hashlib.sha256(array.tobytes()).hexdigest()


def point_labels(masks: torch.Tensor, grid_side: int) -> torch.Tensor:
    """Point-activation targets M_PA: ``y[side·i + j] = mask[stride·i, stride·j] > 0`` (§8).

    The top-left pixel of each cell decides, as in the code (no pooling).

    Args:
        masks: (B, s, s) or (B, 1, s, s) weak masks at the network input size.
        grid_side: ``sqrt(k)``.

    Returns:
        (B, k) float32 labels in {0, 1}.
    """
    if masks.ndim == 4:
        masks = masks[:, 0]
    stride = masks.shape[-1] // grid_side
    picked = masks[:, ::stride, ::stride][:, :grid_side, :grid_side]
    return (picked > 0).float().reshape(masks.shape[0], -1)
