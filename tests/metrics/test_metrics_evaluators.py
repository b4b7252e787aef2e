"""The built-in protocols on small synthetic requests with hand-computed numbers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from wsad_core.context import BuildContext
from wsad_core.errors import ContractError
from wsad_core.metrics.evaluators import (
    PerSliceOptions,
    PerVolumeOptions,
    PooledOptions,
    SliceDetectionOptions,
    evaluator_specs,
)
from wsad_core.roles import EvaluationRequest, Evaluator
from wsad_core.types import ReferenceSlices

SIZE = 40
ALL_METRICS = ["dice", "jaccard", "precision", "recall", "specificity", "auroc", "auprc"]


def _request(scores, masks, brain=None, case_ids=None, slice_indices=None, threshold=0.5, rule="fixed:0.5"):
    n = len(masks)
    brain = np.ones_like(masks) if brain is None else brain
    reference = ReferenceSlices(
        masks=np.asarray(masks, dtype=bool),
        brain_masks=np.asarray(brain, dtype=bool),
        case_ids=tuple(case_ids or ["case_0"] * n),
        slice_indices=np.asarray(range(n) if slice_indices is None else slice_indices),
    )
    return EvaluationRequest(np.asarray(scores, dtype=np.float32), reference, threshold, rule)


def _build(name, tmp_path, **options):
    spec = {s.name: s for s in evaluator_specs()}[name]
    evaluator = spec.factory(spec.options(**options), BuildContext(work_dir=tmp_path))
    assert isinstance(evaluator, Evaluator)
    return evaluator


def _values(rows, **match):
    selected = [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    return {r.metric: r.value for r in selected}


def _square(n_pixels_side, offset=2):
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[offset : offset + n_pixels_side, offset : offset + n_pixels_side] = True
    return mask


def test_specs_are_valid_and_labelled():
    specs = {s.name: s for s in evaluator_specs()}
    assert list(specs) == ["per-slice", "pooled", "per-volume", "slice-detection"]
    for spec in specs.values():
        spec.validate()
        assert spec.label
        assert spec.summary
    assert "RASALoRE per-slice" in specs["per-slice"].label
    assert "> 200 lesion px" in specs["per-slice"].label
    assert specs["per-slice"].headline
    assert not specs["pooled"].headline
    assert PerSliceOptions().min_lesion_pixels == 200
    assert PerSliceOptions().region == "slice"
    with pytest.raises(ValueError, match="extra"):
        PerVolumeOptions(median=3)


def test_evaluators_module_imports_without_torch():
    code = "import sys, wsad_core.metrics.evaluators as e; e.evaluator_specs(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _first_pixels(count):
    mask = np.zeros(SIZE * SIZE, dtype=bool)
    mask[:count] = True
    return mask.reshape(SIZE, SIZE)


def test_per_slice_perfect_prediction_and_selection(tmp_path):
    # Lesion sizes 225, 201 (kept: more than 200), 200 (dropped: not more), 0 (dropped).
    masks = np.stack([_square(15), _first_pixels(201), _first_pixels(200), _first_pixels(0)])
    scores = masks.astype(np.float32)
    rows = _build("per-slice", tmp_path).evaluate(_request(scores, masks))
    assert sorted({r.slice_index for r in rows}) == [0, 1]
    for index in (0, 1):
        values = _values(rows, slice_index=index)
        assert list(values) == ALL_METRICS
        assert all(v == pytest.approx(1.0) for v in values.values())
    first = [r for r in rows if r.slice_index == 0]
    assert {r.extras["lesion_pixels"] for r in first} == {225}
    assert all(r.unit == "slice" and r.protocol == "per-slice" and r.extras["frame"] == "native" for r in rows)
    assert all(r.threshold_rule == "fixed:0.5" for r in rows)
    assert {r.metric: r.threshold for r in first} == {**dict.fromkeys(ALL_METRICS[:5], 0.5), "auroc": None,
                                                    "auprc": None}  # fmt: skip
    assert "> 200 lesion px" in first[0].extras["label"]


def test_per_slice_hand_computed_counts(tmp_path):
    lesion = np.zeros((SIZE, SIZE), bool)
    lesion[0:16, 0:16] = True  # 256 px
    scores = np.zeros((SIZE, SIZE), np.float32)
    scores[0:16, 0:8] = 0.9  # half the lesion found: TP = 128
    scores[0:16, 8:16] = 0.3  # FN = 128
    scores[30:38, 30:38] = 0.5  # FP = 64 (exactly at the threshold: predicted, '>=')
    rows = _build("per-slice", tmp_path).evaluate(_request(scores[None], lesion[None]))
    values = _values(rows)
    assert values["dice"] == pytest.approx(256 / 448)
    assert values["jaccard"] == pytest.approx(128 / 320)
    assert values["precision"] == pytest.approx(128 / 192)
    assert values["recall"] == pytest.approx(0.5)
    assert values["specificity"] == pytest.approx(1280 / 1344)
    y, s = lesion.ravel(), scores.ravel()
    assert values["auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert values["auprc"] == pytest.approx(average_precision_score(y, s), abs=1e-9)
    assert rows[0].extras["tp"] == 128
    assert rows[0].extras["fp"] == 64


def test_per_slice_brain_region_and_undefined_auroc(tmp_path):
    lesion = _square(16)
    scores = lesion.astype(np.float32) * 0.8
    scores[35:40, 35:40] = 0.9  # FP outside the brain
    brain_all = np.ones((SIZE, SIZE), bool)
    brain_lesion_only = lesion.copy()  # the brain is all lesion: no negatives
    request = _request(np.stack([scores, scores]), np.stack([lesion, lesion]), np.stack([brain_all, brain_lesion_only]))
    whole = _build("per-slice", tmp_path).evaluate(request)
    brain = _build("per-slice", tmp_path, region="brain").evaluate(request)
    assert _values(whole, slice_index=0)["precision"] == pytest.approx(256 / 281)
    assert _values(brain, slice_index=0)["precision"] == pytest.approx(256 / 281)
    values = _values(brain, slice_index=1)
    assert values["precision"] == 1.0
    assert values["specificity"] == 1.0
    assert values["auroc"] is None
    assert values["auprc"] == 1.0
    assert _values(whole, slice_index=1)["precision"] == pytest.approx(256 / 281)


def test_pooled_includes_healthy_slices(tmp_path):
    lesion = _square(16)
    healthy = np.zeros((SIZE, SIZE), bool)
    scores = np.zeros((2, SIZE, SIZE), np.float32)
    scores[0][lesion] = 0.9
    scores[1, 0:8, 0:8] = 0.7  # 64 FP on the healthy slice
    scores[1, 20:30, 20:30] = 0.95  # outside the brain: not counted
    brain = np.ones((2, SIZE, SIZE), bool)
    brain[1, 20:30, 20:30] = False
    request = _request(scores, np.stack([lesion, healthy]), brain, case_ids=["a", "b"])
    rows = _build("pooled", tmp_path).evaluate(request)
    values = _values(rows)
    assert values["dice"] == pytest.approx(512 / (512 + 64))
    assert values["precision"] == pytest.approx(256 / 320)
    assert values["recall"] == 1.0
    keep = brain.ravel()
    y, s = np.stack([lesion, healthy]).ravel()[keep], scores.ravel()[keep]
    assert values["auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert values["auprc"] == pytest.approx(average_precision_score(y, s), abs=1e-9)
    assert {(r.unit, r.case_id, r.slice_index) for r in rows} == {("pooled", "*", None)}
    assert rows[0].extras["n_pixels"] == 2 * SIZE * SIZE - 100
    whole = _values(_build("pooled", tmp_path, region="slice").evaluate(request))
    assert whole["precision"] == pytest.approx(256 / 420)


def _volume(depth=6, size=SIZE):
    truth = np.zeros((depth, size, size), bool)
    truth[1:5, 10:20, 10:20] = True  # 400 voxels
    return truth


def test_per_volume_stacks_by_slice_index_and_filters(tmp_path):
    truth = _volume()
    scores = truth.astype(np.float32) * 0.8
    scores[0, 30, 30] = scores[5, 2, 35] = 0.9  # isolated false-positive voxels
    scores[2:4, 30:32, 2:4] = 0.9  # a false-positive component of 8 voxels
    order = np.array([3, 0, 5, 1, 4, 2])  # shuffled slices must be stacked back by index
    request = _request(scores[order], truth[order], case_ids=["v"] * 6, slice_indices=order + 10)
    plain = _values(_build("per-volume", tmp_path).evaluate(request))
    assert plain["precision"] == pytest.approx(400 / 410)
    median = _values(_build("per-volume", tmp_path, median_size=3).evaluate(request))
    # A 3-cube median removes both lone voxels and the 2x2x2 blob (8 of 27 voxels at most), but
    # also trims the lesion's edges.
    assert median["precision"] == 1.0
    assert median["recall"] < 1.0
    cc = _values(_build("per-volume", tmp_path, min_component_size=9).evaluate(request))
    assert cc["dice"] == 1.0
    assert cc["precision"] == 1.0
    cc_small = _values(_build("per-volume", tmp_path, min_component_size=2).evaluate(request))
    assert cc_small["precision"] == pytest.approx(400 / 408)
    assert plain["auroc"] == pytest.approx(roc_auc_score(truth.ravel(), scores.ravel()), abs=1e-9)


def test_per_volume_units_and_lesion_free_volume(tmp_path):
    truth = _volume(depth=4)
    scores = truth.astype(np.float32)
    healthy_scores = np.zeros_like(scores)
    healthy_scores[1, 5, 5] = 0.9
    masks = np.concatenate([truth, np.zeros_like(truth), np.zeros_like(truth)])
    request = _request(
        np.concatenate([scores, healthy_scores, np.zeros_like(scores)]),
        masks,
        case_ids=["a"] * 4 + ["b"] * 4 + ["c"] * 4,
        slice_indices=list(range(4)) * 3,
    )
    rows = _build("per-volume", tmp_path).evaluate(request)
    assert [r.case_id for r in rows[::7]] == ["a", "b", "c"]
    assert {r.unit for r in rows} == {"volume"}
    assert _values(rows, case_id="a")["dice"] == 1.0
    lesion_free_fp = _values(rows, case_id="b")
    assert lesion_free_fp["dice"] == 0.0
    assert lesion_free_fp["auroc"] is None
    assert lesion_free_fp["auprc"] is None
    assert _values(rows, case_id="c")["dice"] == 1.0  # nothing to find, nothing predicted
    assert rows[0].extras["postproc"] == "none"
    assert rows[0].extras["lesion_voxels"] == 300


def test_per_volume_brain_region_and_gaps(tmp_path):
    truth = _volume(depth=3)
    scores = truth.astype(np.float32)
    brain = np.zeros_like(truth)
    brain[:, 5:30, 5:30] = True
    scores[:, 35, 35] = 1.0  # outside the brain: ignored with region='brain'
    request = _request(scores, truth, brain, case_ids=["v"] * 3, slice_indices=[0, 1, 5])  # gap 2..4
    rows = _build("per-volume", tmp_path).evaluate(request)
    values = _values(rows)
    assert values["dice"] == 1.0
    assert values["auroc"] == 1.0
    assert rows[0].extras["region_voxels"] == 3 * 25 * 25
    assert rows[0].extras["n_slices"] == 3
    eroded = _build("per-volume", tmp_path, erode_iterations=1).evaluate(request)
    assert eroded[0].extras["region_voxels"] == 3 * 23 * 23  # per-slice 2-D erosion, whatever the gaps
    assert eroded[0].extras["postproc"] == "erode:1"
    whole = _values(_build("per-volume", tmp_path, region="slice").evaluate(request))
    assert whole["precision"] == pytest.approx(200 / 203)
    duplicate = _request(scores, truth, case_ids=["v"] * 3, slice_indices=[0, 1, 1])
    with pytest.raises(ContractError, match="same slice index"):
        _build("per-volume", tmp_path).evaluate(duplicate)


def test_slice_detection(tmp_path):
    masks = np.zeros((7, SIZE, SIZE), bool)
    masks[:3, 10:12, 10:12] = True  # slices 0-2 anomalous, 3-5 healthy, 6 has no brain
    scores = np.zeros((7, SIZE, SIZE), np.float32)
    for i, peak in enumerate([0.9, 0.8, 0.4, 0.5, 0.3, 0.2, 0.99]):
        scores[i, 20, 20] = peak
    brain = np.ones((7, SIZE, SIZE), bool)
    brain[6] = False
    request = _request(scores, masks, brain)
    rows = _build("slice-detection", tmp_path).evaluate(request)
    values = _values(rows)
    # Max per slice: anomalous 0.9, 0.8, 0.4; healthy 0.5, 0.3, 0.2 -> 8 of 9 pairs ordered.
    assert values == {"auroc": pytest.approx(8 / 9), "auprc": pytest.approx((1 + 1 + 3 / 4) / 3)}
    assert rows[0].extras["n_slices"] == 6
    assert rows[0].extras["n_excluded"] == 1
    assert rows[0].extras["n_anomalous"] == 3
    assert rows[0].threshold is None
    mean = _values(_build("slice-detection", tmp_path, reduce="mean").evaluate(request))
    assert mean["auroc"] == pytest.approx(8 / 9)  # one bright pixel each: same order as max
    healthy_only = _request(scores[3:6], masks[3:6])
    assert _values(_build("slice-detection", tmp_path).evaluate(healthy_only)) == {"auroc": None, "auprc": None}
    assert SliceDetectionOptions(reduce="p99").reduce == "p99"
    p99 = _values(_build("slice-detection", tmp_path, reduce="p99").evaluate(request))
    assert p99["auroc"] is not None


def test_request_shape_mismatch_is_a_contract_error(tmp_path):
    masks = np.zeros((2, SIZE, SIZE), bool)
    request = _request(np.zeros((2, 32, 32), np.float32), masks)
    for name in ("per-slice", "pooled", "per-volume", "slice-detection"):
        with pytest.raises(ContractError, match="native slice grid"):
            _build(name, tmp_path).evaluate(request)
    assert PooledOptions().region == "brain"


def test_empty_request_gives_no_units_or_undefined_values(tmp_path):
    empty = np.zeros((0, SIZE, SIZE), bool)
    request = _request(empty.astype(np.float32), empty, case_ids=[], slice_indices=[])
    assert _build("per-slice", tmp_path).evaluate(request) == []
    assert _build("per-volume", tmp_path).evaluate(request) == []
    pooled = _values(_build("pooled", tmp_path).evaluate(request))
    assert pooled == dict.fromkeys(ALL_METRICS)
    assert _values(_build("slice-detection", tmp_path).evaluate(request)) == {"auroc": None, "auprc": None}


def test_package_exports_resolve_lazily():
    import wsad_core.metrics as metrics

    for name in metrics.__all__:
        assert getattr(metrics, name) is not None
    with pytest.raises(AttributeError):
        _ = metrics.not_a_metric
