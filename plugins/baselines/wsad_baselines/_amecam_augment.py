"""SimCLR views for AME-CAM's stage 0 (baselines.md §1), on tensors, seeded.

RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) back to the input size, horizontal flip
(p 0.5), and with p 0.8 ColorJitter(0.8, 0.8, 0.8, 0.2). On grey (RGB-replicated)
slices saturation, hue and the grayscale conversion (p 0.2) are identities, so only
brightness and contrast are applied, in a random order per image as torchvision does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["simclr_view"]

_ATTEMPTS = 10
_SCALE = (0.08, 1.0)
_LOG_RATIO = (math.log(3 / 4), math.log(4 / 3))
_JITTER_P, _STRENGTH = 0.8, 0.8


def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def _crop_boxes(batch: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """``(B, 4)`` boxes (top, left, h, w) drawn like torchvision's RandomResizedCrop."""
    area = _uniform((batch, _ATTEMPTS), *_SCALE, generator) * height * width
    ratio = torch.exp(_uniform((batch, _ATTEMPTS), *_LOG_RATIO, generator))
    w = torch.sqrt(area * ratio).round()
    h = torch.sqrt(area / ratio).round()
    valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = torch.where(valid.any(dim=1), valid.float().argmax(dim=1), torch.full((batch,), -1))
    rows = torch.arange(batch)
    h = torch.where(first >= 0, h[rows, first.clamp_min(0)], torch.tensor(float(height)))
    w = torch.where(first >= 0, w[rows, first.clamp_min(0)], torch.tensor(float(width)))
    top = (torch.rand(batch, generator=generator) * (height - h + 1)).floor()
    left = (torch.rand(batch, generator=generator) * (width - w + 1)).floor()
    return torch.stack([top, left, h, w], dim=1)


def _jitter(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    batch = images.shape[0]
    apply = (torch.rand(batch, generator=generator) < _JITTER_P).view(-1, 1, 1, 1)
    brightness = _uniform((batch,), 1 - _STRENGTH, 1 + _STRENGTH, generator).view(-1, 1, 1, 1)
    contrast = _uniform((batch,), 1 - _STRENGTH, 1 + _STRENGTH, generator).view(-1, 1, 1, 1)
    contrast_first = (torch.rand(batch, generator=generator) < 0.5).view(-1, 1, 1, 1)

    def bright(x: torch.Tensor) -> torch.Tensor:
        return (x * brightness.to(x)).clamp(0, 1)

    def contrasted(x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        factor = contrast.to(x)
        return (factor * x + (1 - factor) * mean).clamp(0, 1)

    jittered = torch.where(contrast_first.to(images.device), bright(contrasted(images)), contrasted(bright(images)))
    return torch.where(apply.to(images.device), jittered, images)


def simclr_view(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random view of each image ``(B, C, H, W)`` in ``[0, 1]``, same shape and device.

    Every random draw comes from the CPU ``generator`` (the epoch's), so views are
    reproduced exactly on resume.
    """
    batch, _, height, width = images.shape
    top, left, h, w = _crop_boxes(batch, height, width, generator).T
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = w / width, h / height
    theta[:, 0, 2] = (2 * left + w) / width - 1
    theta[:, 1, 2] = (2 * top + h) / height - 1
    flip = torch.rand(batch, generator=generator) < 0.5
    theta[:, 0, 0] = torch.where(flip, -theta[:, 0, 0], theta[:, 0, 0])  # mirror the sampling grid
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    views = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return _jitter(views, generator)
