"""How an ``ame-cam`` run departs from the paper and its code (baselines.md §1), as deviation records.

"Published" is what produced the paper's numbers: the official code where it and the paper
differ (the map's inversion, NT-Xent on raw dot products). Fixes of official-code defects
(stage-0 weights copied by name, not by position) are notes, not deviations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsad_baselines.config_amecam import METHOD_FIELDS_AMECAM, PUBLISHED_SIDE
from wsad_core import Deviation, setting_deviations
from wsad_core.reconstruction.deviations import input_normalisation, modality_deviation, slice_labels

if TYPE_CHECKING:
    from collections.abc import Sequence

    from wsad_baselines.config_amecam import AmeCamOptions
    from wsad_core import BuildContext

__all__ = ["amecam_deviations", "stage1_rule"]

_PUBLISHED_MODALITIES = ("t2",)  # one modality per run; RASALoRE Table 1's AME-CAM row is T2
_PUBLISHED_NORMALISATION = "volume min-max to [0, 1], slices saved as 8-bit JPEG"
_PUBLISHED_LABELS = (
    "anomalous iff lesion > 1 % of the slice (576 px at 240²), smaller lesions and brain-free slices normal"
)
_PUBLISHED_STAGE1 = "best AUC on a random 10 % of the slices"


def stage1_rule(options: AmeCamOptions, fitted: str | None) -> str:
    """How stage 1 chose its epoch: ``fitted`` after fit, else what the options ask for."""
    if fitted is not None:
        return fitted
    return "last epoch" if options.classifier_selection == "last" else "best slice AUC on the validation patients"


def amecam_deviations(
    options: AmeCamOptions,
    context: BuildContext,
    *,
    side: int | None,
    modalities: Sequence[str],
    polarity: str | None,
    stage1: str | None,
) -> list[Deviation]:
    """Every departure of an ``ame-cam`` run from the paper.

    Args:
        options: the generator's options.
        context: the run's context (its ``preprocessing`` says how the slices were made).
        side: the network input side after fit, ``None`` before.
        modalities: the slices' modalities after fit, empty before.
        polarity: the sign used after fit (``auto`` settled), ``None`` before.
        stage1: how stage 1 chose its epoch after fit, ``None`` before.
    """
    found = setting_deviations(options, METHOD_FIELDS_AMECAM)
    if options.image_size is not None and options.image_size != PUBLISHED_SIDE:
        published = f"{PUBLISHED_SIDE} (the slice, no resize)"
        found.append(Deviation(kind="setting", what="image_size", used=str(options.image_size), published=published))
    elif options.image_size is None and side is not None and side != PUBLISHED_SIDE:
        found.append(Deviation(kind="data", what="slice size", used=f"{side} px", published=f"{PUBLISHED_SIDE} px"))
    found += modality_deviation(modalities, _PUBLISHED_MODALITIES)
    found += slice_labels(context, published=_PUBLISHED_LABELS)
    found.append(input_normalisation(context, published=_PUBLISHED_NORMALISATION))
    if options.simclr_epochs > 0 and options.simclr_normalize:
        used = "cosine of L2-normalised projections (SimCLR)"
        found.append(Deviation(kind="default", what="NT-Xent", used=used, published="raw dot products (official code)"))
    sign = polarity or (None if options.polarity == "auto" else options.polarity)
    if sign == "direct":
        used = "direct, chosen by the slice-label check" if options.polarity == "auto" else "direct"
        found.append(Deviation(kind="default", what="polarity", used=used, published="inverted (official code)"))
    if options.mask_outside_brain:
        used = "map set to 0 outside the brain"
        found.append(Deviation(kind="default", what="brain masking", used=used, published="none"))
    used = stage1_rule(options, stage1)
    found.append(Deviation(kind="selection", what="stage-1 checkpoint", used=used, published=_PUBLISHED_STAGE1))
    return found
