"""``medsam``: refine pseudo-masks with MedSAM prompted by each mask's box (RASALoRE §4).

The core calls it on the anomalous training and validation slices, and on every test slice when no
segmenter follows (or a prompted one does). An **empty pseudo-mask gives an empty output**: there is
nothing to prompt with, and no model call is made for that slice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsad_core import ContractError, MaskSet
from wsad_medsam._report import deviations_for, notes_for, provenance_for
from wsad_medsam.engine import MedSAMEngine

if TYPE_CHECKING:
    from wsad_core import BuildContext, Deviation, SliceSet
    from wsad_medsam.backends import SamBackend
    from wsad_medsam.config import MedSAMRefinerOptions

__all__ = ["MedSAMRefiner"]


class MedSAMRefiner:
    """MedSAM refiner.

    Args:
        options: validated :class:`~wsad_medsam.config.MedSAMRefinerOptions`.
        context: the run's build context.
        backend: a loaded backend (tests); default: loaded from ``options`` (raises
            :class:`~wsad_core.WeightsNotFoundError` when the weights are missing).
    """

    def __init__(self, options: MedSAMRefinerOptions, context: BuildContext, backend: SamBackend | None = None) -> None:
        self.options = options
        self.engine = MedSAMEngine(options, context, prompt_kind=options.prompt, backend=backend)

    @property
    def notes(self) -> list[str]:
        """Facts shown with every result that are not deviations (prompt, defect fixes, backend variant)."""
        return notes_for(self.engine, self.options, self.options.prompt)

    @property
    def deviations(self) -> list[Deviation]:
        """How this run departs from RASALoRE's MedSAM use: backbone, weights, prompt defaults, settings."""
        return deviations_for(self.engine, self.options, self.options.prompt)

    @property
    def provenance(self) -> dict[str, Any]:
        """Weights path and sha256, versions, preprocessing, options and work counters."""
        return provenance_for(self.engine, self.options, self.options.prompt)

    def refine(self, slices: SliceSet, masks: MaskSet) -> MaskSet:
        """MedSAM's masks for ``slices`` prompted by ``masks`` (kept as ``upstream``), at the slice size."""
        if len(masks) != len(slices):
            raise ContractError(f"medsam: {len(masks)} pseudo-masks for {len(slices)} slices")
        soft, binary = self.engine.segment(slices, masks.masks, masks.soft)
        source = f"{masks.source}+medsam" if masks.source else "medsam"
        return MaskSet(soft, binary, source, upstream=masks)
