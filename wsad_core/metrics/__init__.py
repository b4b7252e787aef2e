"""Metrics, threshold rules, post-processing and the built-in evaluation protocols.

Everything here is exact and vectorised in torch (CPU or CUDA): AUROC and AUPRC match
scikit-learn's ``roc_auc_score`` and ``average_precision_score``; count metrics use
``score >= t`` and defined values for empty cases (never NaN). Protocols and conventions:
shared/docs/evaluation.md.

Names are imported lazily so that ``import wsad_core.metrics.evaluators`` (which ``wsad
plugins`` needs) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsad_core.metrics.counts import COUNT_METRICS, Counts, confusion_counts, count_metrics, counts_from_masks
    from wsad_core.metrics.evaluators import (
        PerSliceOptions,
        PerVolumeOptions,
        PooledOptions,
        SliceDetectionOptions,
        evaluator_specs,
    )
    from wsad_core.metrics.postprocess import (
        erode_mask,
        median_filter_slices,
        median_filter_volume,
        remove_small_components,
    )
    from wsad_core.metrics.ranking import auroc_ap_1d, ranking_metrics
    from wsad_core.metrics.thresholds import (
        DEFAULT_FIXED_THRESHOLD,
        ThresholdRule,
        best_dice_threshold,
        parse_threshold_rule,
        resolve_threshold,
    )

__all__ = [
    "COUNT_METRICS",
    "DEFAULT_FIXED_THRESHOLD",
    "Counts",
    "PerSliceOptions",
    "PerVolumeOptions",
    "PooledOptions",
    "SliceDetectionOptions",
    "ThresholdRule",
    "auroc_ap_1d",
    "best_dice_threshold",
    "confusion_counts",
    "count_metrics",
    "counts_from_masks",
    "erode_mask",
    "evaluator_specs",
    "median_filter_slices",
    "median_filter_volume",
    "parse_threshold_rule",
    "ranking_metrics",
    "remove_small_components",
    "resolve_threshold",
]

_MODULES = {
    "counts": ("COUNT_METRICS", "Counts", "confusion_counts", "count_metrics", "counts_from_masks"),
    "evaluators": ("PerSliceOptions", "PerVolumeOptions", "PooledOptions", "SliceDetectionOptions", "evaluator_specs"),
    "postprocess": ("erode_mask", "median_filter_slices", "median_filter_volume", "remove_small_components"),
    "ranking": ("auroc_ap_1d", "ranking_metrics"),
    "thresholds": (
        "DEFAULT_FIXED_THRESHOLD",
        "ThresholdRule",
        "best_dice_threshold",
        "parse_threshold_rule",
        "resolve_threshold",
    ),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import the submodule defining ``name`` on first access."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
