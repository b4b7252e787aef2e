"""8-bit gamma, the brain box, crop → resize → uncrop alignment, and each mask cropped in its own frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from wsad_rasalore._data import eligible_positions, prepare_training
from wsad_rasalore._frames import CropBox, brain_box, crop_resize, gamma_8bit, uncrop
from wsad_rasalore.config import RasaloreOptions

from wsad_core import Label, SliceSet


def test_gamma_8bit_truncates_like_the_official_uint8_pipeline():
    x = np.array([0.0, 0.0625, 0.5, 1.0], np.float32)
    # v = floor(255 x) = 0, 15, 127, 255; floor((v/255)^2 · 255) = 0, 0 (values < 16 vanish), 63, 255
    assert gamma_8bit(x).tolist() == [0, 0, 63, 255]
    assert gamma_8bit(x, quantize=False)[2] == pytest.approx(0.25 * 255)


def test_brain_box_excludes_the_last_row_and_column_like_the_code():
    image = np.zeros((100, 120), np.float32)
    image[10:90, 30:110] = 1  # rows 10..89, cols 30..109 non-zero
    assert brain_box(image).as_tuple() == (10, 89, 30, 109)  # [r_min, r_max) × [c_min, c_max)
    assert brain_box(np.zeros((8, 8))) is None


def test_small_brains_are_widened_to_about_64_and_clamped():
    image = np.zeros((128, 128), np.float32)
    image[60:80, 50:70] = 1  # 20 × 20: widened by 32 - 19//2 = 23 on each side
    assert brain_box(image).as_tuple() == (37, 102, 27, 92)
    corner = np.zeros((128, 128), np.float32)
    corner[0:10, 118:128] = 1  # the code's negative start would wrap around; here it is clamped
    box = brain_box(corner)
    assert box.top == 0
    assert box.right == 128
    assert box.height >= 32
    assert box.width >= 32


def _ramp(shape, box):
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return np.where(
        (rows >= box.top) & (rows < box.bottom) & (cols >= box.left) & (cols < box.right),
        0.2 + 0.004 * (rows - box.top) + 0.002 * (cols - box.left),
        0.0,
    )


@pytest.mark.parametrize("out_size", [64, 256])
def test_crop_uncrop_round_trip_puts_a_known_pattern_back_in_place(out_size):
    frame = (160, 200)
    box = CropBox(23, 131, 77, 181)  # off-centre, 108 × 104
    pattern = _ramp(frame, box).astype(np.float32)
    crop = crop_resize(torch.from_numpy(pattern)[None], box, out_size)[0]
    back = uncrop(crop[None], [box], frame)[0]
    outside = np.ones(frame, bool)
    outside[box.top : box.bottom, box.left : box.right] = False
    assert not back[outside].any()  # nothing leaks outside the box
    assert back[box.top, box.left] > 0
    assert back[box.bottom - 1, box.right - 1] > 0
    # Bilinear resampling reproduces an affine ramp away from the box border (measured error 6e-5 at
    # 256, 3.2e-4 at 64 from the anti-aliasing weights); a half-pixel misalignment would be 1-2e-3.
    inner = (slice(box.top + 3, box.bottom - 3), slice(box.left + 3, box.right - 3))
    np.testing.assert_allclose(back[inner], pattern[inner], atol=5e-4)


def test_uncrop_of_an_off_centre_blob_keeps_its_centroid():
    frame, box, out = (128, 140), CropBox(30, 110, 12, 72), 256  # 80 × 60 box
    rows, cols = np.mgrid[0:out, 0:out]
    blob = (((rows - 64) / 20.0) ** 2 + ((cols - 192) / 30.0) ** 2 <= 1).astype(np.float32)
    back = uncrop(torch.from_numpy(blob)[None], [box], frame)[0]
    r, c = np.nonzero(back)
    weights = back[r, c]
    # crop-frame (64, 192) of 256 → box rows 30 + (64.5/256)·80 - 0.5, cols 12 + (192.5/256)·60 - 0.5
    assert np.average(r, weights=weights) == pytest.approx(30 + 64.5 * 80 / 256 - 0.5, abs=0.3)
    assert np.average(c, weights=weights) == pytest.approx(12 + 192.5 * 60 / 256 - 0.5, abs=0.3)


def _slice_with_masks(size=256):
    rows, cols = np.mgrid[0:size, 0:size]
    brain = ((rows - 0.55 * size) / (0.33 * size)) ** 2 + ((cols - 0.45 * size) / (0.28 * size)) ** 2 <= 1
    lesion = ((rows - 0.6 * size) ** 2 + (cols - 0.4 * size) ** 2 <= (0.08 * size) ** 2) & brain
    images = (np.where(brain, 0.5, 0.0) + 0.3 * lesion).astype(np.float32)[None, None]
    slices = SliceSet(images, brain[None], np.array([Label.ANOMALOUS], np.int8), ("c",), np.array([20]), ("t2",))
    return slices, lesion[None]


def test_refined_masks_are_cropped_in_their_own_frame_unless_the_official_bug_is_asked_for():
    slices, lesion = _slice_with_masks()
    positions, _, _ = eligible_positions(slices, lesion, 200)
    options = RasaloreOptions(input_size=32, num_points=64, embed_dim=32)
    own = prepare_training(slices, positions, [0], lesion, lesion, options.geometry(), options)
    # The same mask given as M_DDPT and M_SAM lands on the same pixels.
    assert torch.equal(own.sam_large, own.ddpt_large)
    buggy_options = options.model_copy(update={"sam_crop_frame": "official-240"})
    buggy = prepare_training(slices, positions, [0], lesion, lesion, options.geometry(), buggy_options)
    # 240-frame indices on a 256-frame mask: the window sits too far up-left, so the refined mask
    # appears shifted down-right against the image and M_DDPT.
    assert not torch.equal(buggy.sam_large, buggy.ddpt_large)
    centre_sam = buggy.sam_large[0, 0].nonzero().float().mean(0)
    centre_ddpt = buggy.ddpt_large[0, 0].nonzero().float().mean(0)
    assert (centre_sam > centre_ddpt + 1).all()


def test_the_200_pixel_rule_counts_at_240_and_skips_healthy_slices():
    slices, lesion = _slice_with_masks(128)
    tiny = np.zeros_like(lesion)
    tiny[0, 60:66, 50:58] = True  # 48 px at 128² ≈ 169 px at 240² < 200
    assert eligible_positions(slices, tiny, 200)[0].size == 0
    assert eligible_positions(slices, lesion, 200)[0].tolist() == [0]
    healthy = SliceSet(
        slices.images, slices.brain_masks, np.array([Label.HEALTHY], np.int8), ("c",), np.array([20]), ("t2",)
    )
    assert eligible_positions(healthy, lesion, 200)[1] == 1
