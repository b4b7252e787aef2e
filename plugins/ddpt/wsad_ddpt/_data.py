"""Slices → CLIP inputs: channel choice, training subset, augmentation and epoch batches (R§3.1).

Test transform: the whole slice resized to the model's size (bicubic), grey replicated to RGB, CLIP
normalisation. Training transform: torchvision-style RandomResizedCrop (area 0.08–1, aspect 3/4–4/3,
bicubic) and a horizontal flip, every draw from the epoch's seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from wsad_core import DataError, Label, SliceSet
from wsad_core.training import derive_seed, minibatch_indices

if TYPE_CHECKING:
    from wsad_ddpt.config import DDPTOptions

__all__ = ["CLIP_MEAN", "CLIP_STD", "EpochBatches", "LabelledSlices", "augment", "clip_inputs", "grey"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # R§3.1 (OpenAI CLIP normalisation)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_RATIO = (3 / 4, 4 / 3)
_SPLIT_STREAM = 21  # derive_seed key of the per-class training subset


def grey(slices: SliceSet, index: np.ndarray, channel: int, minmax: bool) -> torch.Tensor:
    """``(n, H, W)`` float32 of one modality, optionally min-maxed per slice (R§2: the PNG extraction)."""
    if channel >= slices.images.shape[1]:
        raise DataError(
            f"ddpt: channel {channel} requested but the slices have {slices.images.shape[1]} "
            f"({', '.join(slices.modalities)})",
            hint="set generator.channel to an existing modality index",
        )
    x = torch.from_numpy(np.ascontiguousarray(slices.images[index, channel], dtype=np.float32))
    if minmax:
        low = x.amin(dim=(1, 2), keepdim=True)
        span = x.amax(dim=(1, 2), keepdim=True) - low
        x = torch.where(span > 0, (x - low) / span.clamp_min(1e-12), torch.zeros_like(x))
    return x


def _normalise(rgb_like: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(CLIP_MEAN, dtype=rgb_like.dtype).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=rgb_like.dtype).view(1, 3, 1, 1)
    return (rgb_like.expand(-1, 3, -1, -1) - mean) / std


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic with antialiasing (PIL's behaviour), clamped to the input range as 8-bit PIL would."""
    out = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    return out.clamp(0.0, 1.0)


def clip_inputs(grey_slices: torch.Tensor, size: int) -> torch.Tensor:
    """Test transform: ``(n, H, W)`` in [0, 1] → ``(n, 3, size, size)`` CLIP-normalised."""
    return _normalise(_resize(grey_slices.unsqueeze(1), size))


def _crop_box(height: int, width: int, scale: tuple[float, float], generator: torch.Generator) -> tuple[int, ...]:
    """Torchvision ``RandomResizedCrop.get_params`` with ``generator`` as the only randomness."""
    area = height * width
    log_low, log_high = math.log(_RATIO[0]), math.log(_RATIO[1])
    for _ in range(10):
        u = torch.rand(2, generator=generator).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * u[0])
        aspect = math.exp(log_low + (log_high - log_low) * u[1])
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            return top, left, h, w
    ratio = width / height  # fallback: the central crop of the clamped aspect ratio
    if ratio < _RATIO[0]:
        w, h = width, round(width / _RATIO[0])
    elif ratio > _RATIO[1]:
        h, w = height, round(height * _RATIO[1])
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def augment(
    grey_slices: torch.Tensor, size: int, scale: tuple[float, float], hflip_p: float, generator: torch.Generator
) -> torch.Tensor:
    """Training transform of ``(n, H, W)`` slices → ``(n, 3, size, size)`` CLIP-normalised."""
    out = []
    for image in grey_slices:
        top, left, h, w = _crop_box(image.shape[0], image.shape[1], scale, generator)
        crop = _resize(image[top : top + h, left : left + w][None, None], size)
        if float(torch.rand(1, generator=generator)) < hflip_p:
            crop = crop.flip(-1)
        out.append(crop)
    return _normalise(torch.cat(out))


@dataclass(frozen=True, slots=True)
class LabelledSlices:
    """Positions and class indices (0 healthy, 1 anomalous) of the slices DDPT trains or validates on."""

    slices: SliceSet
    index: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def select(cls, slices: SliceSet, *, fraction: float, shots: int, seed: int) -> LabelledSlices:
        """Per class: a seeded ``fraction`` of the labelled slices, at most ``shots`` (R§3.1); UNKNOWN dropped."""
        keep, labels = [], []
        for label in (Label.HEALTHY, Label.ANOMALOUS):
            positions = slices.where_label(label)
            order = np.random.default_rng(derive_seed(seed, _SPLIT_STREAM, int(label))).permutation(len(positions))
            count = min(shots, max(1, int(fraction * len(positions)))) if len(positions) else 0
            chosen = np.sort(positions[order[:count]])
            keep.append(chosen)
            labels.append(np.full(len(chosen), int(label), np.int64))
        return cls(slices, np.concatenate(keep), np.concatenate(labels))

    def counts(self) -> dict[str, int]:
        """Slices per class."""
        return {"healthy": int((self.labels == 0).sum()), "anomalous": int((self.labels == 1).sum())}


class EpochBatches:
    """One epoch of augmented training batches, built lazily (a whole epoch would not fit in memory).

    Dassl drops the last partial batch when the set holds at least one full batch.
    """

    def __init__(
        self, data: LabelledSlices, options: DDPTOptions, size: int, epoch: int, generator: torch.Generator
    ) -> None:
        self.data, self.options, self.size, self.epoch, self.generator = data, options, size, epoch, generator
        drop = len(data) >= options.batch_size
        self.parts = minibatch_indices(len(data), options.batch_size, generator, drop_last=drop)

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        o = self.options
        for part in self.parts:
            rows = part.numpy()
            order = np.argsort(self.data.index[rows])  # sorted reads from memory-mapped caches
            rows = rows[order]
            images = grey(self.data.slices, self.data.index[rows], o.channel, o.slice_minmax)
            batch = augment(images, self.size, o.crop_scale, o.hflip_p, self.generator)
            yield batch, torch.from_numpy(self.data.labels[rows]), self.epoch
