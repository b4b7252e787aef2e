"""Composable, seeded augmentations of image batches and their masks.

Every function draws its per-sample decisions from the ``generator`` it is given, so an
epoch's augmentations are reproduced exactly on resume. Geometric transforms apply to
images and masks alike; intensity transforms to images only. Images are
``(B, C, H, W)`` floating tensors (intensity transforms assume values in ``[0, 1]``);
masks are ``(B, K, H, W)`` tensors of any dtype, or ``None``::

    config = AugmentConfig(hflip_p=0.5, vflip_p=0.5, noise_p=0.5, noise_std=0.02, clip=(0.0, 1.0))
    images, masks = augment_pairs(images, masks, generator, config)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wsad_core.errors import ContractError

__all__ = [
    "AugmentConfig",
    "augment_pairs",
    "random_brightness",
    "random_contrast",
    "random_flip",
    "random_gamma",
    "random_noise",
    "random_rot90",
    "random_rotation",
]

Pair = tuple[torch.Tensor, torch.Tensor | None]
_Range = tuple[float, float]


class AugmentConfig(BaseModel):
    """Which augmentations :func:`augment_pairs` applies; every probability defaults to 0 (off)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rotation_p: float = Field(0.0, ge=0, le=1, description="Probability of a rotation by an integer angle.")
    rotation_degrees: int = Field(0, ge=0, le=180, description="Rotation angle drawn from [-degrees, degrees].")
    hflip_p: float = Field(0.0, ge=0, le=1, description="Probability of a left-right flip.")
    vflip_p: float = Field(0.0, ge=0, le=1, description="Probability of an up-down flip.")
    rot90_p: float = Field(0.0, ge=0, le=1, description="Probability of a rotation by 90, 180 or 270 degrees.")
    gamma_p: float = Field(0.0, ge=0, le=1, description="Probability of a gamma change x -> x**g.")
    gamma_range: _Range = Field((0.7, 1.5), description="Range of the gamma exponent g.")
    brightness_p: float = Field(0.0, ge=0, le=1, description="Probability of a brightness change x -> x*f.")
    brightness_range: _Range = Field((0.8, 1.2), description="Range of the brightness factor f.")
    contrast_p: float = Field(0.0, ge=0, le=1, description="Probability of a contrast change about the mean.")
    contrast_range: _Range = Field((0.8, 1.2), description="Range of the contrast factor.")
    noise_p: float = Field(0.0, ge=0, le=1, description="Probability of additive Gaussian noise.")
    noise_std: float = Field(0.0, ge=0, description="Standard deviation of the Gaussian noise (image units).")
    clip: _Range | None = Field(None, description="Clamp images to this range after the intensity changes.")

    @model_validator(mode="after")
    def _check_ranges(self) -> AugmentConfig:
        for name in ("gamma_range", "brightness_range", "contrast_range", "clip"):
            bounds = getattr(self, name)
            if bounds is not None and not bounds[0] <= bounds[1]:
                raise ValueError(f"{name} must be (low, high) with low <= high, got {bounds}")
        if self.gamma_range[0] <= 0:
            raise ValueError(f"gamma_range must be positive, got {self.gamma_range}")
        return self


def _coins(batch: int, p: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(batch, generator=generator, device=generator.device) < p).to(device)


def _uniform(batch: int, bounds: _Range, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    low, high = bounds
    draws = torch.rand(batch, generator=generator, device=generator.device, dtype=torch.float64)
    return (low + (high - low) * draws).to(device)


def _per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


def _check(images: torch.Tensor, masks: torch.Tensor | None) -> None:
    if images.ndim != 4:
        raise ContractError(f"augmentations expect images of shape (B, C, H, W), got {tuple(images.shape)}")
    if masks is not None and (
        masks.ndim != 4 or masks.shape[0] != images.shape[0] or masks.shape[2:] != images.shape[2:]
    ):
        raise ContractError(f"masks of shape {tuple(masks.shape)} do not match images {tuple(images.shape)}")


def random_flip(
    images: torch.Tensor, masks: torch.Tensor | None, generator: torch.Generator, *, p: float, dim: int = -1
) -> Pair:
    """Flip each sample along ``dim`` (-1: left-right, -2: up-down) with probability ``p``."""
    _check(images, masks)
    chosen = _coins(images.shape[0], p, generator, images.device).view(-1, 1, 1, 1)
    flipped_masks = None if masks is None else torch.where(chosen, masks.flip(dim), masks)
    return torch.where(chosen, images.flip(dim), images), flipped_masks


def random_rot90(images: torch.Tensor, masks: torch.Tensor | None, generator: torch.Generator, *, p: float) -> Pair:
    """Rotate each sample by 90, 180 or 270 degrees (uniformly) with probability ``p``.

    Raises:
        ContractError: the images are not square.
    """
    _check(images, masks)
    if images.shape[-1] != images.shape[-2]:
        raise ContractError(f"90-degree rotations need square images, got {tuple(images.shape[-2:])}")
    batch = images.shape[0]
    chosen = _coins(batch, p, generator, torch.device("cpu"))
    turns = torch.randint(1, 4, (batch,), generator=generator, device=generator.device).cpu()
    images, masks = images.clone(), None if masks is None else masks.clone()
    for k in (1, 2, 3):
        index = torch.nonzero(chosen & (turns == k)).flatten().to(images.device)
        if index.numel():
            images[index] = torch.rot90(images[index], k, dims=(-2, -1))
            if masks is not None:
                masks[index] = torch.rot90(masks[index], k, dims=(-2, -1))
    return images, masks


def random_rotation(
    images: torch.Tensor, masks: torch.Tensor | None, generator: torch.Generator, *, p: float, degrees: int
) -> Pair:
    """Rotate each sample by an integer angle in ``[-degrees, degrees]`` with probability ``p``.

    Images are resampled bilinearly, masks with nearest neighbour; corners fill with 0.
    """
    _check(images, masks)
    batch = images.shape[0]
    chosen = _coins(batch, p, generator, torch.device("cpu"))
    angles = torch.randint(-degrees, degrees + 1, (batch,), generator=generator, device=generator.device).cpu()
    index = torch.nonzero(chosen & (angles != 0)).flatten()
    if not index.numel():
        return images, masks
    radians = angles[index].double() * math.pi / 180
    height, width = images.shape[-2:]
    cos, sin = torch.cos(radians), torch.sin(radians)
    # affine_grid works in [-1, 1] coordinates per axis; the aspect factors keep the
    # rotation rigid in pixel space for non-square slices.
    theta = torch.zeros(len(index), 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * height / width
    theta[:, 1, 0], theta[:, 1, 1] = sin * width / height, cos
    device_index = index.to(images.device)
    subset = images[device_index]
    grid = F.affine_grid(theta.to(subset), list(subset.shape), align_corners=False)
    images = images.clone()
    images[device_index] = F.grid_sample(subset, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if masks is not None:
        mask_subset = masks[device_index]
        rotated = F.grid_sample(
            mask_subset.to(grid.dtype), grid, mode="nearest", padding_mode="zeros", align_corners=False
        )
        masks = masks.clone()
        masks[device_index] = rotated.to(masks.dtype)
    return images, masks


def random_gamma(images: torch.Tensor, generator: torch.Generator, *, p: float, bounds: _Range) -> torch.Tensor:
    """Raise each chosen sample to a power drawn from ``bounds`` (negative values clamp to 0)."""
    batch = images.shape[0]
    chosen = _per_sample(_coins(batch, p, generator, images.device), images).bool()
    gamma = _per_sample(_uniform(batch, bounds, generator, images.device), images)
    return torch.where(chosen, images.clamp_min(0) ** gamma, images)


def random_brightness(images: torch.Tensor, generator: torch.Generator, *, p: float, bounds: _Range) -> torch.Tensor:
    """Multiply each chosen sample by a factor drawn from ``bounds``."""
    batch = images.shape[0]
    chosen = _per_sample(_coins(batch, p, generator, images.device), images).bool()
    factor = _per_sample(_uniform(batch, bounds, generator, images.device), images)
    return torch.where(chosen, images * factor, images)


def random_contrast(images: torch.Tensor, generator: torch.Generator, *, p: float, bounds: _Range) -> torch.Tensor:
    """Scale each chosen sample's deviation from its per-channel mean by a factor from ``bounds``."""
    batch = images.shape[0]
    chosen = _per_sample(_coins(batch, p, generator, images.device), images).bool()
    factor = _per_sample(_uniform(batch, bounds, generator, images.device), images)
    mean = images.mean(dim=(-2, -1), keepdim=True)
    return torch.where(chosen, (images - mean) * factor + mean, images)


def random_noise(images: torch.Tensor, generator: torch.Generator, *, p: float, std: float) -> torch.Tensor:
    """Add N(0, std²) noise to each chosen sample."""
    batch = images.shape[0]
    chosen = _per_sample(_coins(batch, p, generator, images.device), images).bool()
    noise = torch.randn(images.shape, generator=generator, device=generator.device, dtype=images.dtype)
    return torch.where(chosen, images + std * noise.to(images.device), images)


def augment_pairs(
    images: torch.Tensor, masks: torch.Tensor | None, generator: torch.Generator, config: AugmentConfig
) -> Pair:
    """Apply the augmentations enabled in ``config`` in a fixed order.

    Order: rotation, left-right flip, up-down flip, 90-degree rotation (geometric, images
    and masks), then gamma, brightness, contrast, noise and clipping (images only).
    Disabled steps draw nothing from ``generator``.

    Args:
        images: ``(B, C, H, W)`` floating tensor.
        masks: ``(B, K, H, W)`` tensor transformed geometrically with the images, or ``None``.
        generator: the epoch's generator.
        config: what to apply.

    Returns:
        The augmented ``(images, masks)``; inputs are never modified in place.
    """
    _check(images, masks)
    if config.rotation_p > 0 and config.rotation_degrees > 0:
        images, masks = random_rotation(images, masks, generator, p=config.rotation_p, degrees=config.rotation_degrees)
    if config.hflip_p > 0:
        images, masks = random_flip(images, masks, generator, p=config.hflip_p, dim=-1)
    if config.vflip_p > 0:
        images, masks = random_flip(images, masks, generator, p=config.vflip_p, dim=-2)
    if config.rot90_p > 0:
        images, masks = random_rot90(images, masks, generator, p=config.rot90_p)
    if config.gamma_p > 0:
        images = random_gamma(images, generator, p=config.gamma_p, bounds=config.gamma_range)
    if config.brightness_p > 0:
        images = random_brightness(images, generator, p=config.brightness_p, bounds=config.brightness_range)
    if config.contrast_p > 0:
        images = random_contrast(images, generator, p=config.contrast_p, bounds=config.contrast_range)
    if config.noise_p > 0 and config.noise_std > 0:
        images = random_noise(images, generator, p=config.noise_p, std=config.noise_std)
    if config.clip is not None:
        images = images.clamp(*config.clip)
    return images, masks
