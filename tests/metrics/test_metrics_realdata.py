"""The protocols on a real BraTS 2018 case: slice selection matches evaluation.md §4's table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wsad_core.context import BuildContext
from wsad_core.metrics.evaluators import evaluator_specs
from wsad_core.roles import EvaluationRequest
from wsad_core.types import ReferenceSlices

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.realdata
def test_case_0_slice_counts_and_perfect_map(tmp_path, real_root):
    nib = pytest.importorskip("nibabel")
    case = real_root / "case_0"
    axial = slice(15, 140)  # RASALoRE's slice range k = 15..139
    truth = np.moveaxis(np.asarray(nib.load(case / "GT_W.nii.gz").dataobj)[:, :, axial] > 0, -1, 0)
    brain = np.moveaxis(np.asarray(nib.load(case / "FLAIR.nii.gz").dataobj)[:, :, axial] > 0, -1, 0)
    reference = ReferenceSlices(truth, brain, ("case_0",) * len(truth), np.arange(15, 140))
    scores = np.where(truth, 0.9, 0.1).astype(np.float32)
    request = EvaluationRequest(scores, reference, 0.5, "fixed:0.5")
    specs = {s.name: s for s in evaluator_specs()}
    context = BuildContext(work_dir=tmp_path)

    per_slice = specs["per-slice"].factory(specs["per-slice"].options(), context).evaluate(request)
    assert len({r.slice_index for r in per_slice}) == 53  # evaluation.md §4: case_0 has 53 slices > 200 px
    assert all(r.value == pytest.approx(1.0) for r in per_slice)

    detection = specs["slice-detection"].factory(specs["slice-detection"].options(), context).evaluate(request)
    extras = detection[0].extras
    assert (extras["n_slices"], extras["n_anomalous"], extras["n_excluded"]) == (125, 53 + 24, 0)
    assert {r.metric: r.value for r in detection} == {"auroc": 1.0, "auprc": 1.0}

    volume = specs["per-volume"].factory(specs["per-volume"].options(median_size=3), context).evaluate(request)
    values = {r.metric: r.value for r in volume}
    assert values["auroc"] > 0.97
    assert 0.9 < values["dice"] < 1.0  # the median trims the tumour's thin edges
