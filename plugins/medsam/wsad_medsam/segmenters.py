"""``medsam-box`` and ``medsam-point``: MedSAM prompted by the generator's pseudo-masks as the segmenter.

These are RASALoRE Table 1's "MedSAM + DDPT (box)" and "(point)" rows when the generator is DDPT (any
generator otherwise). There is no training: ``fit`` does nothing, and ``predict`` needs the pseudo-masks
of the slices it predicts (the core passes them because the specs set ``prompted_by_pseudo_masks``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsad_core import ContractError, ScoreMaps
from wsad_medsam._report import deviations_for, notes_for, provenance_for
from wsad_medsam.engine import MedSAMEngine

if TYPE_CHECKING:
    from wsad_core import BuildContext, Deviation, MaskSet, SliceSet
    from wsad_medsam.backends import SamBackend
    from wsad_medsam.config import MedSAMBoxOptions

__all__ = ["MedSAMSegmenter"]


class MedSAMSegmenter:
    """MedSAM as a pseudo-mask-prompted segmenter.

    Args:
        options: validated box or point options.
        context: the run's build context.
        prompt_kind: ``"box"`` (``medsam-box``) or ``"point"`` (``medsam-point``).
        backend: a loaded backend (tests); default: loaded from ``options``.
    """

    def __init__(
        self, options: MedSAMBoxOptions, context: BuildContext, prompt_kind: str, backend: SamBackend | None = None
    ) -> None:
        self.options = options
        self.prompt_kind = prompt_kind
        self.name = f"medsam-{prompt_kind}"
        self.engine = MedSAMEngine(options, context, prompt_kind=prompt_kind, backend=backend)

    @property
    def notes(self) -> list[str]:
        """Facts shown with every result that are not deviations."""
        return [
            f"{self.name}: pretrained MedSAM prompted by the generator's masks, no training",
            *notes_for(self.engine, self.options, self.prompt_kind),
        ]

    @property
    def deviations(self) -> list[Deviation]:
        """How this run departs from RASALoRE's MedSAM use: backbone, weights, prompt defaults, settings."""
        return deviations_for(self.engine, self.options, self.prompt_kind)

    @property
    def provenance(self) -> dict[str, Any]:
        """Weights path and sha256, versions, preprocessing, options and work counters."""
        return provenance_for(self.engine, self.options, self.prompt_kind)

    def fit(
        self,
        train: SliceSet,
        pseudo_masks: MaskSet | None,
        *,
        validation: SliceSet | None = None,
        validation_masks: MaskSet | None = None,
    ) -> None:
        """Nothing to train: MedSAM is used as published."""
        del train, pseudo_masks, validation, validation_masks

    def predict(self, slices: SliceSet, pseudo_masks: MaskSet | None = None) -> ScoreMaps:
        """Probability maps of ``slices`` prompted by ``pseudo_masks`` (empty masks give empty maps).

        Raises:
            ContractError: no pseudo-masks were given, or they do not match ``slices``.
        """
        if pseudo_masks is None:
            raise ContractError(
                f"{self.name} is prompted by pseudo-masks: call predict(slices, pseudo_masks=masks)",
                hint="run it with a --generator; the core then passes the generator's masks",
            )
        if len(pseudo_masks) != len(slices):
            raise ContractError(f"{self.name}: {len(pseudo_masks)} pseudo-masks for {len(slices)} slices")
        soft, _ = self.engine.segment(slices, pseudo_masks.masks, pseudo_masks.soft)
        return ScoreMaps(soft, "probability")
