"""RASALoRE's crop frame: the boxes of the official loader and the way test.py brings masks into it."""

from __future__ import annotations

import numpy as np
import pytest

from wsad_core.data.crop import NO_BOX, maps_to_crop_frame, masks_to_crop_frame, official_crop_boxes
from wsad_core.errors import ContractError
from wsad_core.metrics._protocols import PerSliceEvaluator
from wsad_core.metrics.evaluators import PerSliceOptions
from wsad_core.roles import EvaluationRequest
from wsad_core.types import ReferenceSlices


def test_boxes_follow_the_gamma_image_and_exclude_the_last_row_and_column():
    raw = np.zeros((3, 240, 240))
    raw[0, 50:150, 60:200] = 100.0
    raw[0, 40, 100] = 5.0  # below 16/255 of the maximum: 0 after the 8-bit gamma, outside the box
    raw[2, 100:110, 100:110] = 1.0  # a small brain is widened to about 64 pixels
    boxes = official_crop_boxes(raw)
    assert tuple(boxes[0]) == (50, 149, 60, 199)
    assert tuple(boxes[1]) == NO_BOX
    top, bottom, left, right = boxes[2]
    assert bottom - top == pytest.approx(64, abs=2)
    assert right - left == pytest.approx(64, abs=2)


def test_masks_and_maps_enter_the_crop_frame():
    masks = np.zeros((2, 240, 240), bool)
    masks[0, 60:100, 70:120] = True
    boxes = np.array([[50, 150, 60, 200], list(NO_BOX)], np.int32)
    framed = masks_to_crop_frame(masks, boxes)
    assert framed.shape == (2, 256, 256)
    assert not framed[1].any()
    # The box spans 100 x 140 native pixels: the lesion covers rows 10..50 and columns 10..60 of it.
    rows, cols = np.flatnonzero(framed[0].any(axis=1)), np.flatnonzero(framed[0].any(axis=0))
    assert rows[0] == pytest.approx(10 * 256 / 100, abs=4)
    assert rows[-1] == pytest.approx(50 * 256 / 100, abs=4)
    assert cols[-1] == pytest.approx(60 * 256 / 140, abs=4)
    maps = maps_to_crop_frame(masks.astype(np.float32), boxes)
    assert maps[1].max() == 0.0
    # test.py's > 0 after the second resize dilates the truth slightly: it contains the map's core.
    assert framed[0][maps[0] >= 0.5].all()


def test_per_slice_in_the_crop_frame():
    masks = np.zeros((2, 240, 240), bool)
    masks[:, 90:130, 80:140] = True
    brain = np.zeros_like(masks)
    brain[:, 40:200, 50:190] = True
    raw = brain * 50.0 + masks * 50.0
    reference = ReferenceSlices(masks, brain, ("a", "a"), np.array([20, 21]), official_crop_boxes(raw))
    evaluator = PerSliceEvaluator(PerSliceOptions(frame="crop256"))
    rows = evaluator.evaluate(EvaluationRequest(masks.astype(np.float32), reference, 0.5, "fixed:0.5"))
    dice = [r.value for r in rows if r.metric == "dice"]
    assert len(dice) == 2
    assert all(0.9 < d < 1.0 for d in dice), dice  # the truth is dilated a little by test.py's > 0
    assert {r.extras["frame"] for r in rows} == {"crop256"}
    without_boxes = ReferenceSlices(masks, brain, ("a", "a"), np.array([20, 21]))
    with pytest.raises(ContractError, match="crop boxes"):
        evaluator.evaluate(EvaluationRequest(masks.astype(np.float32), without_boxes, 0.5, "fixed:0.5"))


def test_brain_region_is_only_for_the_native_frame():
    with pytest.raises(ValueError, match="native frame"):
        PerSliceOptions(frame="crop256", region="brain")
