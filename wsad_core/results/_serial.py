"""Plain-data conversion and JSON/YAML writing shared by the results modules."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

import numpy as np

from wsad_core._atomic import atomic_write_text

__all__ = ["fingerprint", "read_json", "to_plain", "utc_now", "write_json", "write_yaml"]


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string with seconds precision."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def to_plain(value: Any) -> Any:
    """``value`` as JSON-compatible data: dicts, lists, str, int, float, bool and None.

    Pydantic models are dumped in JSON mode, numpy scalars and arrays become Python values,
    paths and enums become strings, and non-finite floats become ``None`` (JSON has no NaN).
    """
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [to_plain(item) for item in items]
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
    if isinstance(value, np.generic):
        return to_plain(value.item())
    if isinstance(value, Enum):
        return to_plain(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def fingerprint(value: Any) -> str:
    """sha256 of ``value``'s canonical JSON (sorted keys): equal configurations, equal fingerprints."""
    canonical = json.dumps(to_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def write_json(path: str | os.PathLike[str], value: Any) -> None:
    """Write ``value`` as indented UTF-8 JSON, atomically."""
    atomic_write_text(path, json.dumps(to_plain(value), indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file (errors propagate: callers turn them into their own error types)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_yaml(path: str | os.PathLike[str], value: Any) -> None:
    """Write ``value`` as block-style YAML in insertion order, atomically."""
    import yaml

    atomic_write_text(path, yaml.safe_dump(to_plain(value), sort_keys=False, allow_unicode=True))
