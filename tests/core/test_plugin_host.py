from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from tests.core import _fake_plugins as fake
from wsad_core import (
    BuildContext,
    ConfigError,
    ContractError,
    GeneratorSpec,
    PluginConflictError,
    PluginHost,
    PluginLoadError,
    UnknownPluginError,
    hookimpl,
)


def statuses(host: PluginHost) -> dict[str, object]:
    return {s.name: s for s in host.statuses()}


def test_entry_point_plugin_is_loaded_with_its_distribution(make_distribution):
    make_distribution("fake-good", {"fake_good": fake.GOOD}, {"good": "fake_good"}, version="2.0.1")
    host = PluginHost(disabled=())
    status = statuses(host)["good"]
    assert (status.state, status.dist, status.version) == ("ok", "fake-good", "2.0.1")
    assert status.specs == {"generator": ["bright"]}
    spec = host.get("generator", "bright")
    assert spec.version == "2.0.1", "a spec without version inherits its distribution's"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (fake.IMPORT_ERROR, "ModuleNotFoundError: No module named 'not_a_module_that_exists'"),
        (fake.RAISING_HOOK, "RuntimeError: registration exploded"),
        (fake.MISSPELLED_HOOK, "did you mean ['wsad_register_generators']"),
        (fake.UNDOCUMENTED_OPTION, "options without a description: level"),
    ],
    ids=["import-error", "raising-hook", "misspelled-hook", "malformed-spec"],
)
def test_a_broken_plugin_is_recorded_and_the_others_keep_working(make_distribution, source, expected):
    make_distribution("fake-good", {"fake_good": fake.GOOD}, {"good": "fake_good"})
    make_distribution("fake-broken", {"fake_broken": source}, {"broken": "fake_broken"})
    host = PluginHost(disabled=())
    broken = statuses(host)["broken"]
    assert broken.state == "failed"
    assert expected in broken.error
    assert host.get("generator", "bright").name == "bright"


def test_strict_mode_raises_on_the_first_broken_plugin(make_distribution):
    make_distribution("fake-broken", {"fake_broken": fake.IMPORT_ERROR}, {"broken": "fake_broken"})
    with pytest.raises(PluginLoadError, match="broken"):
        PluginHost(disabled=(), strict=True)


def test_disabled_plugins_are_blocked_from_the_environment(make_distribution, monkeypatch):
    make_distribution("fake-good", {"fake_good": fake.GOOD}, {"good": "fake_good"})
    monkeypatch.setenv("WSAD_DISABLE_PLUGINS", "good, other")
    host = PluginHost()
    assert statuses(host)["good"].state == "blocked"
    with pytest.raises(UnknownPluginError, match="blocked"):
        host.get("generator", "bright")


def test_plugins_path_loads_files_and_modules(tmp_path, monkeypatch, make_distribution):
    plugin_file = tmp_path / "my_file_plugin.py"
    plugin_file.write_text(fake.GOOD)
    make_distribution("fake-mod", {"fake_module_plugin": fake.GOOD.replace('"bright"', '"other"')}, {})
    monkeypatch.setenv("WSAD_PLUGINS_PATH", f"{plugin_file}{__import__('os').pathsep}fake_module_plugin")
    host = PluginHost(entry_points=False)
    assert statuses(host)["my_file_plugin"].state == "ok"
    assert set(host.specs("generator")) == {"bright", "other"}


def test_duplicate_names_conflict_only_when_requested(make_distribution):
    make_distribution("fake-a", {"fake_a": fake.GOOD}, {"a": "fake_a"})
    make_distribution("fake-b", {"fake_b": fake.DUPLICATE}, {"b": "fake_b"})
    host = PluginHost(disabled=())
    assert host.providers("generator", "bright") == ["a", "b"]
    with pytest.raises(PluginConflictError, match=r"a \(fake-a\), b \(fake-b\)"):
        host.get("generator", "bright")


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    level: float = Field(0.5, description="Level.")
    mode: str = Field("hyper", description="Mode.")


class _NotAGenerator:
    def __init__(self, options, context):
        pass


class _Plugin:
    @hookimpl
    def wsad_register_generators(self):
        return [
            GeneratorSpec(name="zscore", summary="z", options=_Options, factory=_NotAGenerator),
            GeneratorSpec(name="zscore-lite", summary="z", options=_Options, factory=_NotAGenerator),
        ]


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(entry_points=False)
    host.register(_Plugin(), name="test-plugin")
    return host


def test_unknown_name_suggests_close_matches(host):
    with pytest.raises(UnknownPluginError) as info:
        host.get("generator", "zscor")
    assert "installed: zscore, zscore-lite" in info.value.message
    assert "did you mean zscore" in info.value.hint


def test_unknown_option_names_the_plugin_and_valid_keys(host):
    with pytest.raises(ConfigError) as info:
        host.validate_options("generator", "zscore", {"levle": 1})
    assert "generator 'zscore'" in info.value.message
    assert "levle" in info.value.message
    assert "level, mode" in info.value.hint


def test_wrongly_typed_option_is_rejected(host):
    with pytest.raises(ConfigError, match="level"):
        host.validate_options("generator", "zscore", {"level": "high"})


def test_factory_output_is_checked_against_the_role(host, tmp_path):
    with pytest.raises(ContractError, match="lacks the PseudoMaskGenerator methods"):
        host.create("generator", "zscore", {}, BuildContext(work_dir=tmp_path))


def test_unregister_removes_specs(host):
    host.unregister("test-plugin")
    assert host.specs("generator") == {}


def test_register_raises_for_a_malformed_plugin():
    class Misspelled:
        @hookimpl
        def wsad_register_segmenter(self):
            return []

    with pytest.raises(PluginLoadError, match="wsad_register_segmenters"):
        PluginHost(entry_points=False).register(Misspelled(), name="misspelled")


def test_failing_observer_is_logged_not_raised(caplog):
    class Observer:
        @hookimpl
        def wsad_run_started(self, run):
            raise RuntimeError("tracker offline")

    host = PluginHost(entry_points=False)
    host.register(Observer(), name="observer")
    with caplog.at_level(logging.WARNING, logger="wsad.plugins"):
        host.run_started(run=object())
    assert "tracker offline" in caplog.text


def test_every_hook_is_documented_with_its_exact_signature():
    import inspect

    from wsad_core import hookspecs

    docs = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text()
    hooks = [name for name in dir(hookspecs) if name.startswith("wsad_")]
    assert len(hooks) == 8
    for name in hooks:
        function = getattr(hookspecs, name)
        assert "Example::" in (function.__doc__ or ""), f"{name} lacks an example"
        signature = f"def {name}{inspect.signature(function)}".replace("'", "")
        assert signature in docs, f"docs/plugins.md lacks `{signature}`"


@pytest.mark.parametrize("name", ["zscore\n", "../x", "a/b", "", "Upper", "-x", "x-"])
def test_spec_names_that_would_make_odd_file_names_are_refused(name):
    from pydantic import BaseModel

    from wsad_core import GeneratorSpec
    from wsad_core.errors import PluginLoadError

    spec = GeneratorSpec(name=name, summary="s", options=BaseModel, factory=lambda options, context: None)
    with pytest.raises(PluginLoadError, match="must be lowercase"):
        spec.validate()
