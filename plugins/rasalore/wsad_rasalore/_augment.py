"""The paper's training augmentations (shared/docs/rasalore.md §6 step 5), seeded per epoch.

In order, each drawn per sample: rotation by an integer angle in [-90°, 90°] with p 0.7
(image bilinear, masks nearest, zero fill, about the centre like PIL's ``rotate``);
left-right flip p 0.5; up-down flip p 0.5; brightness ×U(0.8, 1.2) p 0.5; contrast
×U(0.8, 1.2) about the image's rounded mean p 0.5 (PIL ``ImageEnhance``); Gaussian noise
σ = 10 on the 0-255 scale p 0.7. Intensities are clipped to [0, 255] after every step and,
with ``quantize``, rounded like PIL's 8-bit images (truncated after the noise, as the
code's ``astype(uint8)``). Masks follow the geometric steps only, at every resolution
(the core's ``augment_pairs`` needs masks of the image's size, RASALoRE has 128² and 256²
targets). Everything is drawn from the epoch's generator, so resumed epochs repeat exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["PaperAugment", "augment_batch"]


@dataclass(frozen=True, slots=True)
class PaperAugment:
    """Probabilities and ranges of §6 (defaults: the official loader's)."""

    rotation_p: float = 0.7
    rotation_degrees: int = 90
    hflip_p: float = 0.5
    vflip_p: float = 0.5
    brightness_p: float = 0.5
    brightness: tuple[float, float] = (0.8, 1.2)
    contrast_p: float = 0.5
    contrast: tuple[float, float] = (0.8, 1.2)
    noise_p: float = 0.7
    noise_std: float = 10.0
    quantize: bool = True


def _coins(batch: int, p: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(batch, generator=generator) < p


def _uniform(batch: int, bounds: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(batch, generator=generator, dtype=torch.float64)


def _rotate(x: torch.Tensor, radians: torch.Tensor, mode: str) -> torch.Tensor:
    # Counter-clockwise about the image centre in pixel space (PIL's rotate without expand).
    cos, sin = torch.cos(radians), torch.sin(radians)
    theta = torch.zeros(len(radians), 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, sin, -sin, cos
    grid = F.affine_grid(theta.to(x.device, torch.float32), list(x.shape), align_corners=False)
    return F.grid_sample(x.float(), grid, mode=mode, padding_mode="zeros", align_corners=False).to(x.dtype)


def _pick(chosen: torch.Tensor, changed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    return torch.where(chosen.to(original.device).view(-1, 1, 1, 1), changed, original)


def augment_batch(
    images: torch.Tensor,
    masks: list[torch.Tensor],
    generator: torch.Generator,
    config: PaperAugment | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Augment (B, C, s, s) images in [0, 255] and (B, K, H, W) masks of any size together.

    Args:
        images: the batch's images (every channel gets the same draws).
        masks: target stacks transformed geometrically with the images.
        generator: the epoch's CPU generator.
        config: probabilities and ranges (default: the paper's).

    Returns:
        New ``(images, masks)``; the inputs are not modified.
    """
    config = config or PaperAugment()
    batch = images.shape[0]
    quantize = (lambda x: x.round()) if config.quantize else (lambda x: x)

    chosen = _coins(batch, config.rotation_p, generator)
    degrees = config.rotation_degrees
    angles = torch.randint(-degrees, degrees + 1, (batch,), generator=generator)
    index = torch.nonzero(chosen & (angles != 0)).flatten()
    if index.numel():
        radians = angles[index].double() * math.pi / 180
        where = index.to(images.device)
        images = images.clone()
        images[where] = quantize(_rotate(images[where], radians, "bilinear"))
        rotated = []
        for stack in masks:
            stack = stack.clone()
            stack[where] = _rotate(stack[where], radians, "nearest")
            rotated.append(stack)
        masks = rotated
    for p, dim in ((config.hflip_p, -1), (config.vflip_p, -2)):
        chosen = _coins(batch, p, generator)
        images = _pick(chosen, images.flip(dim), images)
        masks = [_pick(chosen, m.flip(dim), m) for m in masks]

    chosen = _coins(batch, config.brightness_p, generator)
    factor = _uniform(batch, config.brightness, generator).to(images).view(-1, 1, 1, 1)
    images = _pick(chosen, quantize((images * factor).clamp(0, 255)), images)

    chosen = _coins(batch, config.contrast_p, generator)
    factor = _uniform(batch, config.contrast, generator).to(images).view(-1, 1, 1, 1)
    mean = images.mean(dim=(-2, -1), keepdim=True)
    mean = mean.round() if config.quantize else mean  # PIL: int(mean + 0.5) of the 8-bit image
    images = _pick(chosen, quantize((mean + factor * (images - mean)).clamp(0, 255)), images)

    chosen = _coins(batch, config.noise_p, generator)
    noise = torch.randn(images.shape, generator=generator).to(images)
    noisy = (images + config.noise_std * noise).clamp(0, 255)
    images = _pick(chosen, noisy.floor() if config.quantize else noisy, images)
    return images, masks
