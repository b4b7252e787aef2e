"""The core's own plugin: built-in evaluation protocols and dataset adapters.

Registered through the ``wsad`` entry-point group like any third-party plugin, so it
can be blocked (``WSAD_DISABLE_PLUGINS=core``) and has no private access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsad_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from wsad_core.specs import DatasetSpec, EvaluatorSpec

__all__ = ["wsad_register_datasets", "wsad_register_evaluators"]


@hookimpl
def wsad_register_evaluators() -> list[EvaluatorSpec]:
    """The protocols per-slice, pooled, per-volume and slice-detection."""
    from wsad_core.metrics.evaluators import evaluator_specs

    return evaluator_specs()


@hookimpl
def wsad_register_datasets() -> list[DatasetSpec]:
    """Adapters for BraTS layouts, MSD Task01, generic folders and the embedded demo."""
    from wsad_core.data.adapters import dataset_specs

    return dataset_specs()
