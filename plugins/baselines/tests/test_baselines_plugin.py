from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest
import wsad_baselines.plugin

from wsad_core import ConfigError, PluginHost, PseudoMaskGenerator, Segmenter


@pytest.fixture
def host():
    host = PluginHost(entry_points=False, disabled=())
    host.register(wsad_baselines.plugin, "baselines", dist="wsad-baselines", version="0.1.0")
    try:
        yield host
    finally:
        host.unregister("baselines")


def test_entry_point_is_declared():
    (point,) = entry_points(group="wsad", name="baselines")
    assert point.value == "wsad_baselines.plugin"
    assert point.dist.name == "wsad-baselines"


def test_installed_plugin_loads_through_entry_points():
    statuses = {s.name: s for s in PluginHost(disabled=()).statuses()}
    status = statuses["baselines"]
    assert status.state == "ok", status.error
    assert status.specs == {"generator": ["ame-cam", "zscore"], "segmenter": ["ae", "dae", "patch2loc", "unet"]}


def test_specs_are_labelled_reference_baselines(host):
    zscore, unet = host.get("generator", "zscore"), host.get("segmenter", "unet")
    for spec in (zscore, unet):
        assert spec.reference is True
        assert "reference baseline, not a published method" in spec.summary
        assert spec.io.output_kind == "probability"
        assert spec.version == "0.1.0"
        assert spec.options.model_config["frozen"] is True
    assert unet.needs_pseudo_masks is True


def test_published_baselines_declare_their_map_semantics(host):
    amecam, ae, dae = host.get("generator", "ame-cam"), host.get("segmenter", "ae"), host.get("segmenter", "dae")
    for spec in (amecam, ae, dae):
        assert spec.reference is False
        assert spec.citation
        assert spec.options.model_config["frozen"] is True
    # AME-CAM maps are min-maxed to [0, 1] with a 0.5 cut-off; residuals are unbounded scores.
    assert amecam.io.output_kind == "probability"
    assert ae.io.output_kind == dae.io.output_kind == "score"
    assert ae.needs_pseudo_masks is False
    assert dae.needs_pseudo_masks is False
    # Defaults are the published configurations (baselines.md §1-§3).
    defaults = amecam.options()
    assert defaults.exit_weights == (0.25, 0.5, 0.75, 1.0)
    assert (defaults.simclr_epochs, defaults.classifier_epochs, defaults.aggregation_epochs) == (100, 10, 10)
    assert defaults.threshold == 0.5
    dae_defaults = dae.options()
    assert (dae_defaults.image_size, dae_defaults.noise_std, dae_defaults.noise_resolution) == (128, 0.2, 16)
    assert dae_defaults.epochs * dae_defaults.iterations_per_epoch == 67_200
    assert ae.options().encoder_channels == (32, 64, 128, 128)


def test_options_reject_unknown_keys(host):
    with pytest.raises(ConfigError, match="threshhold"):
        host.validate_options("generator", "zscore", {"threshhold": 2.5})
    with pytest.raises(ConfigError):
        host.validate_options("segmenter", "unet", {"epochs": 0})
    assert host.validate_options("segmenter", "unet", {"epochs": 2}).epochs == 2


def test_factories_build_role_objects_from_defaults(host, context_factory):
    context = context_factory()
    assert isinstance(host.create("generator", "zscore", {}, context), PseudoMaskGenerator)
    assert isinstance(host.create("segmenter", "unet", {}, context), Segmenter)
    assert isinstance(host.create("generator", "ame-cam", {}, context), PseudoMaskGenerator)
    assert isinstance(host.create("segmenter", "ae", {}, context), Segmenter)
    assert isinstance(host.create("segmenter", "dae", {}, context), Segmenter)


def test_registering_does_not_import_torch():
    code = "import sys, wsad_baselines.plugin; print('torch' in sys.modules, 'monai' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
