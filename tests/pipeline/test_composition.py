"""The demo's composition: zscore -> medsam (real LiteMedSAM weights) -> rasalore, through the core only.

RASALoRE must receive the refined masks *and* the generator's masks beneath them (``MaskSet.upstream``),
which is what its kappa-weighted loss term needs; this is the path ``make demo`` runs.
"""

from __future__ import annotations

import json

import pytest

from tests.pipeline.conftest import make_config
from wsad_core import PluginHost
from wsad_core.pipeline import run_pipeline

pytest.importorskip("wsad_medsam", reason="wsad-medsam is not installed")
pytest.importorskip("wsad_rasalore", reason="wsad-rasalore is not installed")

TINY_RASALORE = {"preset": "cpu-small", "input_size": 16, "num_points": 16, "embed_dim": 16, "epochs": 1,
                 "batch_size": 8, "min_pseudo_mask_pixels": 0}  # fmt: skip


def test_zscore_medsam_rasalore_trains_on_refined_masks_with_their_upstream(phantom_dataset, tmp_path):
    config = make_config(
        phantom_dataset,
        tmp_path / "run",
        generator="zscore",
        refiner=("medsam", {"batch_size": 8}),
        segmenter=("rasalore", TINY_RASALORE),
    ).model_copy(update={"seed": 3})
    config = config.model_validate({**config.model_dump(), "data": {**config.model_dump()["data"], "max_cases": 3}})
    outcome = run_pipeline(config, PluginHost())
    assert outcome.error is None
    environment = json.loads((tmp_path / "run" / "env.json").read_text())
    refiner, segmenter = environment["provenance"]["refiner"], environment["provenance"]["segmenter"]
    assert refiner["backend"] == "lite"
    assert refiner["work"]["prompted_slices"] > 0
    assert segmenter["refined_masks"] is True
    assert segmenter["pseudo_mask_source"] == "zscore+medsam"
    # What departs from the published pipeline is on record, with who reported it.
    deviations = {(d["source"], d["kind"], d["what"]): d for d in environment["deviations"]}
    assert deviations[("refiner medsam", "substitute", "backbone")]["used"].startswith("LiteMedSAM")
    assert any(source == "segmenter rasalore" and kind == "setting" for source, kind, _ in deviations)
