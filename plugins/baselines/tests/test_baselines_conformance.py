"""The core's conformance suite, run on this distribution's plugins as any third-party plugin would."""

from __future__ import annotations

from wsad_core.testing import PluginConformance


class TestZScoreConformance(PluginConformance):
    role = "generator"
    plugin_name = "zscore"
    distribution = "wsad-baselines"


class TestUNetConformance(PluginConformance):
    role = "segmenter"
    plugin_name = "unet"
    distribution = "wsad-baselines"
    options = {"epochs": 1, "channels": (8, 16), "batch_size": 8}
