r"""``-o key=value`` overrides and ``-c FILE`` configuration files.

Keys are dotted paths:

* ``generator.<opt>``, ``refiner.<opt>``, ``segmenter.<opt>`` set that stage's plugin options;
* ``dataset.<opt>`` sets the dataset adapter's options;
* ``evaluator.<protocol>.<opt>`` sets an evaluation protocol's options;
* ``dataset.lesion_labels=[1,4]`` is ``data.preprocess.lesion_labels``: which labels of a label map are lesion;
* anything else is a path into the run configuration, e.g. ``data.preprocess.size=128``.

Values are parsed as YAML scalars or flow collections: ``3`` is an int, ``0.5`` a float,
``true`` a bool, ``[16, 32]`` a list, ``null`` None, ``'3'`` a string; anything else stays a string.
A value YAML cannot parse, or one YAML would read as an alias, anchor or tag (``*``, ``&``, ``!``),
is taken as the plain string, so globs and regular expressions need no extra quoting:
``-o dataset.images='*/Flair*.nii.gz'``, ``-o dataset.case_pattern='^(?P<case>.+?)(_\d{4})?$'``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from wsad_core.errors import ConfigError

__all__ = ["apply_overrides", "load_config_file", "parse_assignment", "parse_value"]

_STAGES = ("generator", "refiner", "segmenter")
_REFERENCE_TOKENS = (yaml.AliasToken, yaml.AnchorToken, yaml.TagToken)


def parse_value(raw: str) -> Any:
    """The value of ``key=raw``: YAML for numbers, booleans, null, lists and quoted strings, else ``raw`` itself.

    Aliases, anchors and tags are never meant on a command line: ``*/x.nii.gz`` is a glob, not an alias, and
    ``&x`` would otherwise silently become null.
    """
    text = raw.strip()  # as YAML does for plain scalars
    if not text:
        return ""
    try:
        if any(isinstance(token, _REFERENCE_TOKENS) for token in yaml.scan(text, Loader=yaml.SafeLoader)):
            return text
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """``"a.b=3"`` → ``(["a", "b"], 3)``.

    Raises:
        ConfigError: without ``=`` or with an empty key part.
    """
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise ConfigError(f"option {text!r} is not of the form key=value", hint="e.g. -o segmenter.epochs=5")
    return [p.strip() for p in parts], parse_value(raw)


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
        elif head == "dataset" and path[1:] == ["lesion_labels"]:
            # Which labels are lesion is a fact about the dataset's ground truth, so it is set with the dataset
            # options too; it lives in the preprocessing settings that every adapter shares.
            _set(result.setdefault("data", {}).setdefault("preprocess", {}), ["lesion_labels"], value, text)
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
