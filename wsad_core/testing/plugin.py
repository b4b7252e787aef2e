"""pytest plugin (entry point ``pytest11``): fixtures for testing wsad plugins.

Loaded automatically wherever wsad-core is installed; it imports nothing heavy.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from wsad_core.context import BuildContext
from wsad_core.plugins import PluginHost, with_stage_builder
from wsad_core.testing.synthetic import ToyBatch, toy_batch

__all__ = ["wsad_build_context", "wsad_context_factory", "wsad_host", "wsad_isolated_host", "wsad_toy_batch"]


@pytest.fixture
def wsad_toy_batch() -> ToyBatch:
    """Sixteen training and eight test slices of 64×64 with bright-disc lesions."""
    return toy_batch()


def _lazy_host() -> Callable[[], PluginHost]:
    # Installed plugins, loaded only when a plugin builds another one (context.stage), once per fixture.
    return functools.cache(lambda: PluginHost(disabled=()))


@pytest.fixture
def wsad_build_context(tmp_path: Path) -> BuildContext:
    """A CPU :class:`BuildContext` with a temporary work directory and seed 0.

    Its ``build_stage`` builds the installed plugins (loaded on first use).
    """
    return with_stage_builder(BuildContext(device="cpu", seed=0, work_dir=tmp_path / "work"), _lazy_host())


@pytest.fixture
def wsad_context_factory(tmp_path: Path) -> Callable[..., BuildContext]:
    """``wsad_context_factory(seed=0, name="run", **fields)``: CPU contexts, each with its own work directory.

    Their ``build_stage`` builds the installed plugins (unless ``fields`` gives one).

    For tests that need several runs side by side (resume, determinism across seeds).
    """
    host = _lazy_host()

    def build(seed: int = 0, name: str = "run", **fields: object) -> BuildContext:
        work_dir = tmp_path / name
        work_dir.mkdir(parents=True, exist_ok=True)
        context = BuildContext(work_dir=work_dir, seed=seed, logger=logging.getLogger("wsad.test"), **fields)  # type: ignore[arg-type]
        return context if "build_stage" in fields else with_stage_builder(context, host)

    return build


@pytest.fixture
def wsad_host() -> PluginHost:
    """Plugins from entry points, as installed."""
    return PluginHost(disabled=())


@pytest.fixture
def wsad_isolated_host() -> PluginHost:
    """A host without any plugin; register test plugins with ``host.register(obj, name=...)``."""
    return PluginHost(entry_points=False, disabled=())
