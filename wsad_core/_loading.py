"""Finding plugin modules: entry points and ``WSAD_PLUGINS_PATH`` entries."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from wsad_core.hookspecs import PROJECT_NAME

__all__ = ["PluginSource", "discover", "env_list"]


@dataclass(frozen=True, slots=True)
class PluginSource:
    """Where a plugin comes from, before it is imported.

    Attributes:
        name: the plugin's name (entry-point name, module name or file stem).
        target: ``module`` or ``module:attribute`` for entry points, a module name or
            a ``.py`` path for ``WSAD_PLUGINS_PATH`` entries.
        dist: providing distribution, ``""`` for path plugins.
        version: the distribution's version, ``""`` for path plugins.
    """

    name: str
    target: str
    dist: str = ""
    version: str = ""

    def load(self) -> object:
        """Import the plugin object (module, or attribute of a module)."""
        if self.target.endswith(".py"):
            return _import_file(Path(self.target))
        module_name, _, attribute = self.target.partition(":")
        module = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            module = getattr(module, part)
        return module


def env_list(variable: str, separator: str = ",") -> list[str]:
    """Non-empty, stripped items of a separated environment variable."""
    return [item.strip() for item in os.environ.get(variable, "").split(separator) if item.strip()]


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise FileNotFoundError(f"plugin file {path} does not exist")
    module_name = f"wsad_plugin_file_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        # As importlib does for a failed import: no half-initialised module stays behind.
        sys.modules.pop(module_name, None)
        raise
    return module


def discover(*, entry_points: bool = True) -> Iterator[PluginSource]:
    """Plugins from the ``wsad`` entry-point group, then from ``WSAD_PLUGINS_PATH``.

    ``WSAD_PLUGINS_PATH`` holds ``os.pathsep``-separated importable module names or
    paths to ``.py`` files.
    """
    if entry_points:
        found = importlib.metadata.entry_points(group=PROJECT_NAME)
        for entry_point in sorted(found, key=lambda ep: ep.name):
            dist = entry_point.dist
            yield PluginSource(
                name=entry_point.name,
                target=entry_point.value,
                dist=dist.name if dist is not None else "",
                version=dist.version if dist is not None else "",
            )
    for item in env_list("WSAD_PLUGINS_PATH", os.pathsep):
        name = Path(item).stem if item.endswith(".py") else item
        yield PluginSource(name=name, target=item)
