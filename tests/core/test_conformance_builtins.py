"""The conformance suite on the core's own evaluators (registered through the `core` entry point)."""

from __future__ import annotations

import pytest

from wsad_core.testing import PluginConformance


class TestPerSlice(PluginConformance):
    role = "evaluator"
    plugin_name = "per-slice"
    distribution = "wsad-core"
    options = {"min_lesion_pixels": 20}


class TestPooled(PluginConformance):
    role = "evaluator"
    plugin_name = "pooled"
    distribution = "wsad-core"


class TestPerVolume(PluginConformance):
    role = "evaluator"
    plugin_name = "per-volume"
    distribution = "wsad-core"
    options = {"median_size": 3, "min_component_size": 4}


class TestSliceDetection(PluginConformance):
    role = "evaluator"
    plugin_name = "slice-detection"
    distribution = "wsad-core"


def test_the_suite_catches_a_broken_generator(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A generator returning masks of the wrong size fails the output-contract check."""
    pytester.makepyfile(
        broken_generator="""
        import numpy as np
        from pydantic import BaseModel, ConfigDict
        from wsad_core import GeneratorSpec, MaskSet, hookimpl

        class Options(BaseModel):
            model_config = ConfigDict(extra="forbid", frozen=True)

        class Broken:
            def __init__(self, options, context):
                pass
            def fit(self, train, *, validation=None):
                pass
            def generate(self, slices):
                n = len(slices)
                return MaskSet(np.zeros((n, 8, 8), np.float32), np.zeros((n, 8, 8), bool), "broken")

        @hookimpl
        def wsad_register_generators():
            return [GeneratorSpec(name="broken", summary="Wrong size.", options=Options, factory=Broken,
                                  version="0.1")]
        """,
        test_broken="""
        from wsad_core.testing import PluginConformance

        class TestBroken(PluginConformance):
            role = "generator"
            plugin_name = "broken"
        """,
    )
    pytester.syspathinsert()
    monkeypatch.setenv("WSAD_PLUGINS_PATH", "broken_generator")
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    assert result.parseoutcomes().get("failed", 0) >= 2
    result.stdout.fnmatch_lines(["*FAILED*test_output_contract_on_cpu*"])
    # A path plugin does not come from an installed distribution: registration fails too.
    result.stdout.fnmatch_lines(["*FAILED*test_registered_through_entry_point*"])
