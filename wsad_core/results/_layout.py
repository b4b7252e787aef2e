"""File names inside a run directory, shared by the writers and readers of each file."""

from __future__ import annotations

import re

__all__ = [
    "ARRAYS",
    "CASES_CSV",
    "CASES_PARQUET",
    "CASES_SCHEMA",
    "CONFIG_JSON",
    "CONFIG_YAML",
    "DONE",
    "ENV",
    "LOG",
    "MAPS",
    "META",
    "METRICS",
    "OVERLAYS",
    "RUN",
    "SPLIT",
    "STAGES",
    "SUMMARY_CSV",
    "SUMMARY_JSON",
    "SUMMARY_MD",
    "WORK",
    "file_stem",
]

CONFIG_YAML = "config.yaml"
CONFIG_JSON = "config.json"
ENV = "env.json"
SPLIT = "split.json"
RUN = "run.json"
LOG = "run.log"
STAGES = "stages"
WORK = "work"
ARRAYS = "arrays.npz"
META = "meta.json"
DONE = "done.json"
METRICS = "metrics"
CASES_CSV = "cases.csv"
CASES_PARQUET = "cases.parquet"
CASES_SCHEMA = "cases.columns.json"
SUMMARY_CSV = "summary.csv"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
MAPS = "maps"
OVERLAYS = "overlays"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_stem(name: str) -> str:
    """``name`` made safe as one path component: other characters become ``_``, no leading dot.

    Raises:
        ValueError: Nothing usable is left (empty name, only dots).
    """
    stem = _UNSAFE.sub("_", str(name)).lstrip(".")
    if not stem:
        raise ValueError(f"{name!r} cannot be used as a file name")
    return stem
