"""Weights files: a model's state dict plus JSON-able metadata, written atomically.

Files are read with ``torch.load(..., weights_only=True)``, which refuses arbitrary
pickled objects, so a checkpoint can be loaded without trusting its author::

    save_weights(work_dir / "model.pt", model, {"epoch": 12, "modalities": ["flair"]})
    meta = load_weights(work_dir / "model.pt", model)
"""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsad_core._atomic import atomic_torch_save
from wsad_core.errors import ContractError, DataError

if TYPE_CHECKING:
    import torch

__all__ = [
    "WEIGHTS_FORMAT",
    "load_weights",
    "read_checkpoint",
    "save_checkpoint",
    "save_weights",
    "torch_load_failure",
]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def torch_load_failure(error: BaseException) -> tuple[str, str]:
    """``(reason, hint)`` for a failed ``torch.load(..., weights_only=True)``, in wsad's words.

    torch's refusal of pickled objects advises loading with ``weights_only=False``; wsad never does
    (it would run code from the file), so that advice is replaced, not repeated.
    """
    text = _ANSI.sub("", str(error)).strip()
    if "Weights only load failed" in text:
        found = _GLOBAL.search(text)
        what = f" ({found.group(1)})" if found else ""
        return (
            f"it holds pickled Python objects{what}, which wsad never loads because unpickling can run code",
            "save a plain checkpoint (tensors, numbers, strings, lists, dicts: e.g. model.state_dict()) and use that",
        )
    first = text.splitlines()[0] if text else type(error).__name__
    return first, "the file is corrupt, truncated or not a torch checkpoint; replace it"


WEIGHTS_FORMAT = "wsad-weights/1"


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """Save ``payload`` (tensors and plain containers only) to ``path`` atomically.

    Args:
        path: destination file; parent directories are created.
        payload: what to store; must be loadable with ``weights_only=True``.

    Returns:
        The destination path.
    """
    target = Path(path)
    atomic_torch_save(dict(payload), target)
    return target


def read_checkpoint(path: str | os.PathLike[str], *, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a file written by :func:`save_checkpoint` or :func:`save_weights`.

    Args:
        path: the file.
        map_location: device the tensors are mapped to (``torch.load``'s argument).

    Returns:
        The stored mapping.

    Raises:
        DataError: the file is missing, truncated, not a torch file, or holds objects
            that ``weights_only`` loading refuses.
    """
    import torch

    source = Path(path)
    if not source.is_file():
        raise DataError(f"checkpoint {source} does not exist", hint="check the path, or train the model first")
    try:
        payload = torch.load(source, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError) as error:
        reason, hint = torch_load_failure(error)
        raise DataError(f"checkpoint {source} cannot be read: {reason}", hint=hint) from error
    if not isinstance(payload, dict):
        raise DataError(
            f"checkpoint {source} holds a {type(payload).__name__}, expected a mapping",
            hint="the file was not written by wsad; delete it and train again",
        )
    return payload


def _plain_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    # A JSON round trip both checks and normalises (tuples become lists), so what
    # load_weights returns equals what a JSON reader of the same metadata would see.
    try:
        return json.loads(json.dumps(dict(meta or {})))
    except (TypeError, ValueError) as error:
        raise ContractError(f"save_weights: meta must be JSON-serialisable: {error}") from error


def save_weights(path: str | os.PathLike[str], model: torch.nn.Module, meta: Mapping[str, Any] | None = None) -> Path:
    """Save ``model``'s state dict and ``meta`` to ``path`` atomically.

    Args:
        path: destination file (conventionally ``*.pt``).
        model: the module whose ``state_dict()`` is stored.
        meta: JSON-serialisable description (options, epoch, modalities, ...).

    Returns:
        The destination path.

    Raises:
        ContractError: ``meta`` is not JSON-serialisable.
    """
    payload = {"format": WEIGHTS_FORMAT, "state_dict": model.state_dict(), "meta": _plain_meta(meta)}
    return save_checkpoint(path, payload)


def load_weights(
    path: str | os.PathLike[str], model: torch.nn.Module, *, map_location: Any = "cpu", strict: bool = True
) -> dict[str, Any]:
    """Load weights saved by :func:`save_weights` into ``model``.

    Args:
        path: the weights file.
        model: a module of the same architecture; its parameters are overwritten in place.
        map_location: device the stored tensors are mapped to before copying.
        strict: require the stored and the model's keys to match exactly.

    Returns:
        The metadata stored with the weights.

    Raises:
        DataError: the file is missing or unreadable, is not a wsad weights file, or its
            tensors do not fit ``model``.
    """
    source = Path(path)
    payload = read_checkpoint(source, map_location=map_location)
    if payload.get("format") != WEIGHTS_FORMAT or not isinstance(payload.get("state_dict"), Mapping):
        raise DataError(
            f"{source} is not a wsad weights file (format {payload.get('format')!r}, expected {WEIGHTS_FORMAT!r})",
            hint="write weights with wsad_core.training.save_weights",
        )
    try:
        model.load_state_dict(payload["state_dict"], strict=strict)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise DataError(
            f"weights in {source} do not fit {type(model).__name__}: {' '.join(first[:2])}",
            hint="the file was saved for another architecture or options; retrain or pick the matching file",
        ) from error
    return dict(payload.get("meta") or {})
