"""The core's conformance suite, run on the ``rasalore`` segmenter with a tiny configuration."""

from __future__ import annotations

from wsad_core.testing import PluginConformance


class TestRasaloreConformance(PluginConformance):
    role = "segmenter"
    plugin_name = "rasalore"
    distribution = "wsad-rasalore"
    options = {"input_size": 16, "num_points": 16, "embed_dim": 16, "width_divisor": 8, "epochs": 1, "batch_size": 8}
