"""BuildContext.build_stage: a plugin builds (or restores) another registered plugin through its context."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from wsad_core import BuildContext, ConfigError, ContractError, GeneratorSpec, PluginHost, hookimpl
from wsad_core.plugins import with_stage_builder

LOADED: list[tuple[Path, BuildContext]] = []


class InnerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    level: float = Field(0.5, description="A level.")


class Inner:
    def __init__(self, options: InnerOptions, context: BuildContext) -> None:
        self.options, self.context = options, context

    def fit(self, train, *, validation=None):  # pragma: no cover - never called here
        pass

    def generate(self, slices):  # pragma: no cover - never called here
        raise NotImplementedError


def load_inner(path: Path, context: BuildContext) -> Inner:
    LOADED.append((path, context))
    return Inner(InnerOptions(), context)


class Plugin:
    @hookimpl
    def wsad_register_generators(self):
        return [
            GeneratorSpec(name="inner", summary="Inner stage.", options=InnerOptions, factory=Inner, loader=load_inner),
            GeneratorSpec(name="no-loader", summary="Inner stage.", options=InnerOptions, factory=Inner),
        ]


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(entry_points=False, disabled=())
    host.register(Plugin(), name="stages-test")
    return host


def test_a_plugin_builds_another_registered_plugin_through_its_context(tmp_path: Path, host: PluginHost) -> None:
    outer = with_stage_builder(
        BuildContext(device="cpu", seed=7, work_dir=tmp_path / "outer", validation_dice=lambda maps: 1.0), host
    )
    built = outer.stage("generator", "inner", {"level": 0.25})
    assert isinstance(built, Inner)
    assert built.options.level == 0.25, "options are validated by the inner plugin's model"
    inner = built.context
    assert inner.work_dir == tmp_path / "outer" / "stage-inner"
    assert inner.work_dir.is_dir(), "its own directory, where an interrupted inner training resumes"
    assert (inner.device, inner.seed) == ("cpu", 7)
    assert inner.validation_dice is None, "the outer stage's scorer is not the inner stage's"
    assert inner.build_stage is not None, "stages may nest"
    with pytest.raises(ConfigError, match="level"):
        outer.stage("generator", "inner", {"level": "high"})


def test_a_stage_is_restored_with_its_loader(tmp_path: Path, host: PluginHost) -> None:
    LOADED.clear()
    outer = with_stage_builder(BuildContext(work_dir=tmp_path / "outer"), host)
    state = tmp_path / "inner.state"
    restored = outer.stage("generator", "inner", state=state)
    assert isinstance(restored, Inner)
    assert [(state, restored.context)] == LOADED
    assert restored.context.work_dir == tmp_path / "outer" / "stage-inner"
    with pytest.raises(ContractError, match="no loader"):
        outer.stage("generator", "no-loader", state=state)


def test_a_context_without_a_builder_says_so(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="no build_stage") as error:
        BuildContext(work_dir=tmp_path).stage("segmenter", "ddpm", {})
    assert "with_stage_builder" in (error.value.hint or "")
