"""The noise that corrupts images in the forward diffusion: Gaussian, or simplex (AnoDDPM, used by pDDPM and mDDPM).

Simplex noise is the octave sum of AnoDDPM (Wyatt et al., CVPRW 2022) that the Behrendt family uses with
6 octaves, persistence 0.8 and frequency 64 (spec §6.2): octave ``i`` samples 3-D simplex noise at
``(row, col, z) / (frequency / 2**i)`` and weighs it by ``persistence**i``; the sum is used unnormalised,
as in AnoDDPM. Each sample gets its own field (a random ``z`` offset in one seeded permutation) where
AnoDDPM repeats one field over the batch. The field comes from the maintained ``opensimplex`` package
(accelerated by numba).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

__all__ = ["NoiseKind", "gaussian_noise", "noise_like", "simplex_field", "simplex_noise"]

NoiseKind = Literal["gaussian", "simplex"]

_Z_RANGE = 1e4  # z offsets drawn in [0, _Z_RANGE): fields far apart along z are uncorrelated


def simplex_field(
    height: int, width: int, z: float, *, octaves: int = 6, persistence: float = 0.8, frequency: float = 64.0
) -> np.ndarray:
    """One ``(height, width)`` octave-summed simplex field at depth ``z`` (float64; opensimplex's current seed)."""
    import opensimplex

    rows, cols = np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64)
    field = np.zeros((height, width))
    amplitude, scale = 1.0, float(frequency)
    for _ in range(octaves):
        # noise3array(x, y, z) returns (z, y, x): rows are y, columns x.
        field += amplitude * opensimplex.noise3array(cols / scale, rows / scale, np.array([z / scale]))[0]
        scale /= 2.0
        amplitude *= persistence
    return field


def simplex_noise(
    shape: tuple[int, ...],
    generator: torch.Generator,
    *,
    octaves: int = 6,
    persistence: float = 0.8,
    frequency: float = 64.0,
) -> torch.Tensor:
    """Simplex noise ``(B, C, H, W)`` float32 on the CPU, every sample and channel its own field.

    The fields are determined by ``generator`` (their ``z`` offsets) and a fixed permutation seed.
    """
    import opensimplex

    batch, channels, height, width = shape
    offsets = torch.rand(batch * channels, generator=generator, dtype=torch.float64) * _Z_RANGE
    opensimplex.seed(0)  # one permutation; the randomness is in the offsets, drawn from the run's generator
    fields = [
        simplex_field(height, width, float(z), octaves=octaves, persistence=persistence, frequency=frequency)
        for z in offsets
    ]
    return torch.from_numpy(np.stack(fields).astype(np.float32)).reshape(shape)


def gaussian_noise(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Standard normal noise on the CPU."""
    return torch.randn(shape, generator=generator)


def noise_like(
    images: torch.Tensor,
    kind: NoiseKind,
    generator: torch.Generator,
    *,
    octaves: int = 6,
    persistence: float = 0.8,
    frequency: float = 64.0,
) -> torch.Tensor:
    """Noise of ``kind`` shaped like ``images``, on their device (drawn on the CPU for reproducibility)."""
    shape = tuple(images.shape)
    if kind == "gaussian":
        noise = gaussian_noise(shape, generator)
    else:
        noise = simplex_noise(shape, generator, octaves=octaves, persistence=persistence, frequency=frequency)
    return noise.to(images.device)
