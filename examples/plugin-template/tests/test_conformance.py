"""The wsad conformance suite run on the template's methods: copy this file with your plugin."""

from __future__ import annotations

from wsad_core.testing import PluginConformance


class TestTemplateGenerator(PluginConformance):
    role = "generator"
    plugin_name = "template-bright"
    distribution = "wsad-template-method"


class TestTemplateSegmenter(PluginConformance):
    role = "segmenter"
    plugin_name = "template-smooth"
    distribution = "wsad-template-method"
