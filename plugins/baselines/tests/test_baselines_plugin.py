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
    assert status.specs == {"generator": ["zscore"], "segmenter": ["unet"]}


def test_specs_are_labelled_reference_baselines(host):
    zscore, unet = host.get("generator", "zscore"), host.get("segmenter", "unet")
    for spec in (zscore, unet):
        assert spec.reference is True
        assert "reference baseline, not a published method" in spec.summary
        assert spec.io.output_kind == "probability"
        assert spec.version == "0.1.0"
        assert spec.options.model_config["frozen"] is True
    assert unet.needs_pseudo_masks is True


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


def test_registering_does_not_import_torch():
    code = "import sys, wsad_baselines.plugin; print('torch' in sys.modules, 'monai' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
