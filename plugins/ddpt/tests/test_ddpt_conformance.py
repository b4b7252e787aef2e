"""The core's conformance suite, run on this distribution's generator as on any third-party plugin."""

from __future__ import annotations

from wsad_core.testing import PluginConformance


class TestDDPTConformance(PluginConformance):
    role = "generator"
    plugin_name = "ddpt"
    distribution = "wsad-ddpt"
    # The bundled tiny open_clip config with a random backbone: seconds on CPU.
    options = {"model": "ddpt-tiny", "pretrained": None, "allow_random_init": True, "epochs": 1}
