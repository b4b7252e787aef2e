"""Registration through the entry point, the spec, and option validation."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest
import wsad_rasalore.plugin
from wsad_rasalore.config import PAPER, RasaloreOptions

from wsad_core import ConfigError, PluginHost, Segmenter


@pytest.fixture
def host():
    host = PluginHost(entry_points=False, disabled=())
    host.register(wsad_rasalore.plugin, "rasalore", dist="wsad-rasalore", version="0.1.0")
    try:
        yield host
    finally:
        host.unregister("rasalore")


def test_entry_point_is_declared():
    (point,) = entry_points(group="wsad", name="rasalore")
    assert point.value == "wsad_rasalore.plugin"
    assert point.dist.name == "wsad-rasalore"


def test_spec_declares_a_pseudo_mask_segmenter(host):
    spec = host.get("segmenter", "rasalore")
    assert spec.needs_pseudo_masks is True
    assert spec.prompted_by_pseudo_masks is False
    assert spec.io.output_kind == "probability"
    assert spec.reference is False
    assert "BMVC 2025" in spec.citation
    assert spec.weights is None  # trained from scratch: the official code released no RASALoRE weights


def test_defaults_are_the_published_configuration():
    options = RasaloreOptions()
    assert options.geometry() == PAPER
    assert (options.epochs, options.batch_size, options.learning_rate, options.momentum) == (200, 16, 0.01, 0.9)
    assert (options.weight_decay, options.lr_step_epochs, options.lr_decay) == (0.0, 20, 0.5)
    assert (options.alpha, options.beta, options.tversky_delta, options.el_phi) == (0.6, 0.6, 0.3, 0.3)
    assert (options.sigma_mask, options.sigma_background, options.overlap) == (10.0, 15.0, "tversky")
    assert (options.gamma, options.min_pseudo_mask_pixels, options.min_crop_extent) == (2.0, 200, 64)
    assert options.augment is True
    assert options.align_weight == 1.0


def test_options_are_validated(host):
    with pytest.raises(ConfigError, match="num_points"):
        host.validate_options("segmenter", "rasalore", {"num_points": 1000})
    with pytest.raises(ConfigError, match="input_size"):
        host.validate_options("segmenter", "rasalore", {"input_size": 100})  # not a multiple of sqrt(1024)
    with pytest.raises(ConfigError, match="twice"):
        host.validate_options("segmenter", "rasalore", {"multimodal": ["flair", "flair"]})
    with pytest.raises(ConfigError, match="predict_modality"):
        host.validate_options("segmenter", "rasalore", {"multimodal": ["flair", "t1"], "predict_modality": "t1ce"})
    assert host.validate_options("segmenter", "rasalore", {"preset": "cpu-small"}).geometry().embed_dim == 64


def test_factory_builds_a_segmenter(host, context_factory):
    assert isinstance(host.create("segmenter", "rasalore", {"preset": "cpu-small"}, context_factory()), Segmenter)


def test_registering_does_not_import_torch():
    code = "import sys, wsad_rasalore.plugin; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False"]
