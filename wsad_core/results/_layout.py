"""File names inside a run directory, shared by the writers and readers of each file.

A case's files are named by :func:`case_file_stem`: ``maps/<stem>.nii.gz`` and
``overlays/<stem>_k<slice>.png`` in a run, and ``<stem>.nii.gz`` in the folder ``wsad eval`` reads.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from wsad_core.errors import DataError

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
    "case_file_stem",
    "check_case_file_stems",
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

_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_SAFE_CHARACTER = re.compile(r"[A-Za-z0-9._-]")
# Leaves room for "_k123.png" and ".nii.gz" within the 255-byte limit of common file systems.
_MAX_STEM = 200


def _utf8(character: str) -> bytes:
    try:
        # An id read from an undecodable file name holds the original bytes as escapes: write those.
        return character.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return character.encode("utf-8", "surrogatepass")


def case_file_stem(case_id: str) -> str:
    """The stem of a case's file names (``<stem>.nii.gz``, ``<stem>_k<slice>.png``): unique and reversible.

    A safe id (ASCII letters, digits and ``._-``, not starting with ``.`` or ``-``) is its own stem,
    as almost every dataset's ids are (``BraTS20_Training_001``, ``case_003``). Any other character,
    and a leading ``.`` or ``-``, is written ``%XX`` per UTF-8 byte as in a URL: ``a b`` →
    ``a%20b``, ``Müller`` → ``M%C3%BCller``, ``..`` → ``%2E.``. Different ids thus never share a
    stem (replacing characters by ``_`` made ``a b`` and ``a_b`` overwrite each other's files), and
    ``urllib.parse.unquote(stem)`` gives the id back.

    Raises:
        ValueError: an empty id, or a stem longer than 200 characters.
    """
    case_id = str(case_id)
    if _SAFE_ID.fullmatch(case_id):
        stem = case_id
    else:
        stem = "".join(
            character
            if _SAFE_CHARACTER.fullmatch(character) and not (position == 0 and character in ".-")
            else "".join(f"%{byte:02X}" for byte in _utf8(character))
            for position, character in enumerate(case_id)
        )
    if not stem:
        raise ValueError("an empty case id cannot be used as a file name")
    if len(stem) > _MAX_STEM:
        raise ValueError(f"case id {case_id!r} is too long for a file name ({len(stem)} > {_MAX_STEM} characters)")
    return stem


def check_case_file_stems(case_ids: Iterable[str]) -> None:
    """Check, before any work, that every case gets file names of its own.

    :func:`case_file_stem` gives different ids different stems, but stems that differ only in
    letter case (``Case1``, ``case1``) are one file on macOS and Windows, where a run folder may be
    copied: such ids are refused too.

    Raises:
        DataError: naming the ids that cannot be file names or would share one.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for case_id in dict.fromkeys(case_ids):
        try:
            groups[case_file_stem(case_id).casefold()].append(case_id)
        except ValueError as error:
            raise DataError(str(error), hint="rename the case (its folder or files)") from None
    clashes = [group for group in groups.values() if len(group) > 1]
    if clashes:
        described = "; ".join(" and ".join(repr(i) for i in group) for group in clashes[:5])
        raise DataError(
            f"case ids {described} differ only in letter case: their maps and overlays would overwrite each other "
            "on case-insensitive file systems (macOS, Windows)",
            hint="rename one of each pair (its folder or files)",
        )
