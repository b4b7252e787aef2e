from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from wsad_core.errors import ContractError
from wsad_core.training import (
    AugmentConfig,
    augment_pairs,
    random_brightness,
    random_noise,
    random_rot90,
    random_rotation,
)

GEOMETRIC = AugmentConfig(hflip_p=0.5, vflip_p=0.5, rot90_p=0.5)


def _pair(batch=16, size=24):
    generator = torch.Generator().manual_seed(11)
    images = torch.rand(batch, 2, size, size, generator=generator)
    masks = images[:, :1] > 0.6
    return images, masks


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_geometric_augmentations_move_masks_with_images():
    images, masks = _pair()
    out_images, out_masks = augment_pairs(images, masks, _gen(), GEOMETRIC)
    assert out_masks.dtype == torch.bool
    assert torch.equal(out_masks, out_images[:, :1] > 0.6)
    changed = [not torch.equal(a, b) for a, b in zip(out_images, images, strict=True)]
    assert 4 <= sum(changed) <= 16  # P(untouched) = 1/8 per sample
    assert torch.equal(images, _pair()[0])  # inputs untouched


def test_augmentations_are_reproducible_from_the_generator():
    images, masks = _pair()
    config = AugmentConfig(
        rotation_p=0.7, rotation_degrees=90, hflip_p=0.5, gamma_p=0.5, contrast_p=0.5, noise_p=0.7, noise_std=0.05
    )
    a = augment_pairs(images, masks, _gen(5), config)
    b = augment_pairs(images, masks, _gen(5), config)
    c = augment_pairs(images, masks, _gen(6), config)
    assert torch.equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_default_config_is_identity_and_draws_nothing():
    images, masks = _pair()
    generator = _gen()
    state = generator.get_state()
    out_images, out_masks = augment_pairs(images, masks, generator, AugmentConfig())
    assert torch.equal(out_images, images)
    assert torch.equal(out_masks, masks)
    assert torch.equal(generator.get_state(), state)


def test_rot90_refuses_non_square_images():
    images = torch.zeros(2, 1, 8, 6)
    with pytest.raises(ContractError, match="square"):
        random_rot90(images, None, _gen(), p=1.0)


def test_rotation_keeps_masks_aligned_and_rigid():
    # A disc off-centre: rotating image (bilinear) and mask (nearest) must agree.
    size = 48
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = (((yy - 14) ** 2 + (xx - 30) ** 2) <= 36).float()
    images = disc.expand(8, 1, size, size).clone()
    masks = images > 0.5
    out_images, out_masks = random_rotation(images, masks, _gen(1), p=1.0, degrees=90)
    agreement = ((out_images > 0.5) == out_masks).float().mean()
    assert agreement > 0.99
    area = out_masks.flatten(1).sum(1).float()
    assert torch.all((area - masks[0].sum()).abs() <= 8)  # rigid: area kept within a few pixels
    assert not torch.equal(out_masks, masks)


def test_intensity_ops_leave_masks_and_respect_ranges():
    images, masks = _pair(batch=64)
    bright = random_brightness(images, _gen(), p=1.0, bounds=(0.8, 1.2))
    ratio = (bright.flatten(1).sum(1) / images.flatten(1).sum(1)).tolist()
    assert all(0.8 - 1e-5 <= r <= 1.2 + 1e-5 for r in ratio)
    assert max(ratio) - min(ratio) > 0.2
    noisy = random_noise(images, _gen(), p=1.0, std=0.1)
    assert float((noisy - images).std()) == pytest.approx(0.1, rel=0.05)
    out_images, out_masks = augment_pairs(
        images, masks, _gen(), AugmentConfig(noise_p=1.0, noise_std=0.5, clip=(0.0, 1.0))
    )
    assert torch.equal(out_masks, masks)
    assert float(out_images.min()) == 0.0
    assert float(out_images.max()) == 1.0


def test_config_validation():
    with pytest.raises(ValidationError):
        AugmentConfig(hflip_p=1.5)
    with pytest.raises(ValidationError):
        AugmentConfig(brightness_range=(1.2, 0.8))
    with pytest.raises(ValidationError):
        AugmentConfig(unknown=1)
