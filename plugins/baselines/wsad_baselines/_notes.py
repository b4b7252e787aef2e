"""Caveat lines shared by the published baselines."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

__all__ = ["HEALTHY_DATA_NOTE", "reduced_settings_note"]

HEALTHY_DATA_NOTE = (
    "trained on the tumour-free (healthy-labelled) slices of the training patients; the published unsupervised "
    "setups use healthy cohorts such as IXI/CamCAN, which are not available offline (baselines.md §0)"
)


def reduced_settings_note(options: BaseModel, fields: Sequence[str]) -> str | None:
    """A note naming every size option that differs from its published default, or ``None``."""
    model = type(options)
    changed = [
        f"{name}={_show(getattr(options, name))} (published {_show(model.model_fields[name].default)})"
        for name in fields
        if getattr(options, name) != model.model_fields[name].default
    ]
    if not changed:
        return None
    return "reduced configuration, not the published one: " + ", ".join(changed)


def _show(value: object) -> str:
    if value is None:
        return "slice size"
    if isinstance(value, tuple):
        return "/".join(str(v) for v in value)
    return str(value)
