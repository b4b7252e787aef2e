"""mean_slice_dice: the per-slice agreement a learning-curve monitor reports without ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wsad_core.training import mean_slice_dice


def test_mean_over_slices_with_enough_mask_pixels():
    masks = np.zeros((3, 8, 8), bool)
    masks[0, :4, :4] = True  # 16 px
    masks[1, :2, :2] = True  # 4 px
    scores = np.zeros((3, 8, 8), np.float32)
    scores[0, :4, :2] = 0.9  # half of slice 0's mask: Dice 2·8/(8+16)
    scores[1, :2, :2] = 0.6  # slice 1 exact
    scores[2] = 0.9  # slice 2 has an empty mask: never counted
    assert mean_slice_dice(scores, masks) == pytest.approx((16 / 24 + 1.0) / 2)
    assert mean_slice_dice(scores, masks, min_pixels=5) == pytest.approx(16 / 24)
    assert mean_slice_dice(scores, masks.astype(np.float32)) == pytest.approx((16 / 24 + 1.0) / 2)
    assert math.isnan(mean_slice_dice(scores, masks, min_pixels=100))
    assert math.isnan(mean_slice_dice(scores, np.zeros_like(masks)))
