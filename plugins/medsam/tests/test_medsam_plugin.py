"""Registration, specs, weights status and how the pipeline planner pairs the MedSAM names."""

from __future__ import annotations

import json

import pytest

from wsad_core import ContractError, PluginHost


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(disabled=())


def test_names_and_spec_flags(host):
    assert host.providers("refiner", "medsam") == ["medsam"]
    for name in ("medsam-box", "medsam-point"):
        spec = host.get("segmenter", name)
        assert spec.needs_pseudo_masks is False
        assert spec.prompted_by_pseudo_masks is True
        assert spec.io.output_kind == "probability"
    assert host.get("segmenter", "medsam-box").options.model_fields.keys().isdisjoint({"num_points", "prompt"})


def test_defaults_are_faithful_where_not_a_defect(host):
    options = host.validate_options("refiner", "medsam", {})
    assert options.backend == "lite"
    assert options.faithful_box_frame_bug is False  # the defect is opt-in
    # Not RASALoRE's prompting (reported as 'default' deviations); FAITHFUL_PROMPTING reproduces it.
    assert options.box_from == "largest"
    assert options.jitter_max_px == 0
    assert options.jitter_frame is None
    assert options.prompt_mask == "binary"
    assert options.gamma == 2.0
    assert options.probability_rescale == "minmax"
    assert options.threshold == 0.5
    assert host.validate_options("segmenter", "medsam-point", {}).num_points == 10


def _plan(segmenter, generator="zscore"):
    from wsad_core.config import RunConfig
    from wsad_core.pipeline.plan import plan_pipeline

    pipeline = {"segmenter": {"name": segmenter}}
    if generator:
        pipeline["generator"] = {"name": generator}
    return plan_pipeline(RunConfig.model_validate({"pipeline": pipeline}), PluginHost(disabled=()))


def test_planner_requires_a_generator_for_the_prompted_segmenters():
    with pytest.raises(ContractError, match="prompted with pseudo-masks"):
        _plan("medsam-box", generator=None)
    plan = _plan("medsam-point")
    assert plan.segmenter.name == "medsam-point"


def test_weights_status_in_wsad_plugins_json(monkeypatch, host):
    from wsad_core.cli.plugins_cmd import plugins_report

    monkeypatch.delenv("WSAD_MEDSAM_WEIGHTS", raising=False)
    specs = {(s["role"], s["name"]): s for s in json.loads(json.dumps(plugins_report(host), default=str))["specs"]}
    assert specs[("refiner", "medsam")]["weights"]["status"] == "available"  # lite default, bundled
    assert specs[("segmenter", "medsam-box")]["weights"]["env_var"] == "WSAD_MEDSAM_WEIGHTS"


def test_plugin_module_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, wsad_medsam.plugin; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
