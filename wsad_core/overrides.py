"""``-o key=value`` overrides and ``-c FILE`` configuration files.

Keys are dotted paths:

* ``generator.<opt>``, ``refiner.<opt>``, ``segmenter.<opt>`` set that stage's plugin options;
* ``dataset.<opt>`` sets the dataset adapter's options;
* ``evaluator.<protocol>.<opt>`` sets an evaluation protocol's options;
* anything else is a path into the run configuration, e.g. ``data.preprocess.size=128``.

Values are parsed as YAML scalars or flow collections: ``3`` is an int, ``0.5`` a float,
``true`` a bool, ``[16, 32]`` a list, ``null`` None; anything else stays a string.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from wsad_core.errors import ConfigError

__all__ = ["apply_overrides", "load_config_file", "parse_assignment"]

_STAGES = ("generator", "refiner", "segmenter")


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """``"a.b=3"`` → ``(["a", "b"], 3)``.

    Raises:
        ConfigError: without ``=``, with an empty key part, or an unparsable value.
    """
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise ConfigError(f"option {text!r} is not of the form key=value", hint="e.g. -o segmenter.epochs=5")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"option {text!r}: cannot parse value {raw!r} ({error.__class__.__name__})") from None
    return [p.strip() for p in parts], value


def _set(tree: dict[str, Any], path: list[str], value: Any, origin: str) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"option {origin!r}: {part!r} is a value, not a section")
        node = child
    node[path[-1]] = value


def apply_overrides(config: dict[str, Any], assignments: Iterable[str]) -> dict[str, Any]:
    """A copy of the plain-data ``config`` with ``assignments`` applied.

    Raises:
        ConfigError: malformed assignments, or options for a stage the pipeline lacks.
    """
    result = json.loads(json.dumps(config))
    for text in assignments:
        path, value = parse_assignment(text)
        head = path[0]
        if head in _STAGES:
            stage = result.setdefault("pipeline", {}).get(head)
            if not stage:
                raise ConfigError(
                    f"option {text!r} sets {head} options but no {head} is chosen", hint=f"add --{head} NAME"
                )
            if len(path) < 2:
                raise ConfigError(f"option {text!r} names no {head} option", hint=f"e.g. -o {head}.epochs=5")
            _set(stage.setdefault("options", {}), path[1:], value, text)
        elif head == "dataset":
            _set(result.setdefault("data", {}).setdefault("adapter_options", {}), path[1:], value, text)
        elif head == "evaluator":
            if len(path) < 3:
                raise ConfigError(f"option {text!r} must be evaluator.<protocol>.<option>=value")
            options = result.setdefault("evaluation", {}).setdefault("protocol_options", {})
            _set(options.setdefault(path[1], {}), path[2:], value, text)
        else:
            _set(result, path, value, text)
    return result


def load_config_file(path: Path) -> dict[str, Any]:
    """A run configuration from a YAML, JSON or TOML file.

    Raises:
        ConfigError: the file is missing, unreadable or not a mapping.
    """
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"config file {path} cannot be parsed: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    return data
