"""Deviation records shared by methods trained on healthy slices (``ae``, ``dae``, ``ame-cam``, the DDPMs).

Every way a run departs from its paper is a :class:`~wsad_core.Deviation` (issue 12): the
core prints them on every result row, so a reduced CPU run or a borrowed data rule can
never pass for the published method. Facts that are not departures stay in ``notes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from wsad_core import Deviation

if TYPE_CHECKING:
    from wsad_core import BuildContext

__all__ = ["HEALTHY_COHORT", "input_normalisation", "modality_deviation", "slice_labels"]

# Texts avoid ";": describe_deviations joins the records of a table cell with "; ".

#: The UAD papers train on healthy cohorts, which are not available offline (baselines.md §0).
HEALTHY_COHORT = Deviation(
    kind="data",
    what="healthy training data",
    used="tumour-free slices of the training patients",
    published="healthy cohort (IXI, CamCAN)",
)


def modality_deviation(modalities: Sequence[str], published: Sequence[str]) -> list[Deviation]:
    """A ``modality`` deviation when the slices' ``modalities`` are not the paper's (none before fit)."""
    if not modalities or tuple(modalities) == tuple(published):
        return []
    return [Deviation(kind="modality", what="modality", used="/".join(modalities), published="/".join(published))]


def input_normalisation(context: BuildContext, *, published: str) -> Deviation:
    """A ``default`` deviation: the pipeline's intensity normalisation instead of the paper's ``published`` one."""
    config = context.preprocessing
    if config is None:  # built outside a run: the slices are whatever the caller normalised
        used = "the slices as given to fit"
    elif config.normalisation == "volume-percentile":
        low, high = config.percentiles
        used = f"per volume, brain intensities clipped to percentiles {low:g}-{high:g} and scaled to [0, 1]"
    else:
        used = "per-slice min-max to [0, 1]"
    return Deviation(kind="default", what="input normalisation", used=used, published=published)


def slice_labels(context: BuildContext, *, published: str) -> list[Deviation]:
    """A ``data`` deviation: the pipeline's slice-label rule instead of the paper's (unknown outside a run)."""
    config = context.preprocessing
    if config is None:
        return []
    small = "dropped from training" if config.ambiguous_slices == "drop" else "labelled anomalous"
    empty = "excluded" if config.brain_free_slices == "exclude" else "labelled healthy"
    used = (
        f"anomalous iff > {config.min_lesion_pixels} lesion px, 1-{config.min_lesion_pixels} px {small}, "
        f"brain-free slices {empty}"
    )
    return [Deviation(kind="data", what="slice labels", used=used, published=published)]
