"""The four plugin roles as typed protocols.

A spec's ``factory(options, context)`` returns an object satisfying one of these
protocols. The core calls them in this order::

    generator.fit(train) -> generator.generate(slices) -> MaskSet
    refiner.refine(slices, masks) -> MaskSet
    segmenter.fit(train, pseudo_masks) -> segmenter.predict(slices) -> ScoreMaps
    evaluator.evaluate(request) -> list[MetricRow]

Training-time inputs carry image-level labels only; slices given to ``generate`` or
``predict`` at test time carry ``Label.UNKNOWN``. No role except the evaluator ever
receives pixel-level ground truth.

Any role object may also have these optional attributes, read after it has run:

* ``deviations: Sequence[Deviation]`` — every way this run departs from the published
  method (weights, substitutes, reduced settings, modality, defaults, data); printed on
  every result row (:mod:`wsad_core.deviations`);
* ``checkpoint_selection: str`` — how a trained stage chose its checkpoint, e.g.
  ``"last epoch"`` or ``"gt-val: best validation Dice against pixel ground truth"``;
  shown in the ``selection`` column;
* ``notes: Sequence[str]`` — other facts printed with the results, e.g. what the score is;
* ``provenance: Mapping[str, Any]`` — facts stored in ``env.json``, e.g. the weights'
  path and sha256.

A trained generator or segmenter whose spec has a ``loader`` also has ``save(path) -> Path``:
the core calls it after ``fit`` and keeps the file in the run's ``model/`` folder, from which
``wsad predict`` and ``wsad export`` restore the stage with ``spec.loader(path, context)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from wsad_core.types import MaskSet, MetricRow, ReferenceSlices, ScoreMaps, SliceSet

__all__ = [
    "EvaluationRequest",
    "Evaluator",
    "PseudoMaskGenerator",
    "Reconstructor",
    "Refiner",
    "Segmenter",
]


@runtime_checkable
class PseudoMaskGenerator(Protocol):
    """Turns image-level labels into pixel-level pseudo-masks."""

    def fit(self, train: SliceSet, *, validation: SliceSet | None = None) -> None:
        """Learn from labelled training slices (``validation`` is for model selection only)."""

    def generate(self, slices: SliceSet) -> MaskSet:
        """Pseudo-masks for ``slices``, in their order and frame."""


@runtime_checkable
class Refiner(Protocol):
    """Improves pseudo-masks, e.g. by prompting a foundation model with their boxes."""

    def refine(self, slices: SliceSet, masks: MaskSet) -> MaskSet:
        """Refined masks for ``slices``; ``masks`` are the upstream pseudo-masks."""


@runtime_checkable
class Segmenter(Protocol):
    """Produces anomaly maps; trained on pseudo-masks, or unsupervised on healthy slices."""

    def fit(
        self,
        train: SliceSet,
        pseudo_masks: MaskSet | None,
        *,
        validation: SliceSet | None = None,
        validation_masks: MaskSet | None = None,
    ) -> None:
        """Train on ``train`` (and ``pseudo_masks`` when given).

        ``pseudo_masks`` is ``None`` for segmenters declaring ``needs_pseudo_masks=False``, unless
        their spec sets ``accepts_pseudo_masks`` and the run has a generator.
        ``validation``/``validation_masks`` come from validation patients (pseudo-masks,
        never ground truth) and serve model selection.
        """

    def predict(self, slices: SliceSet) -> ScoreMaps:
        """Anomaly maps for ``slices`` (labels hidden), in their order and frame.

        Segmenters whose spec sets ``prompted_by_pseudo_masks`` are called as
        ``predict(slices, pseudo_masks=masks)`` with the generator's (and refiner's) masks
        of the same slices.
        """


@runtime_checkable
class Reconstructor(Protocol):
    """A trained segmenter that also exposes its pseudo-healthy reconstructions (a "reconstruction plugin").

    Every unsupervised segmenter built on :class:`wsad_core.reconstruction.ReconstructionSegmenter`
    (``ae``, ``dae``, the diffusion models) is one after ``fit``; methods made of stages use it as
    their reconstruction stage (SADM's stage I), built through ``BuildContext.stage``.
    """

    def reconstruct_slices(self, slices: SliceSet) -> np.ndarray:
        """Reconstructions ``(N, C, H, W)`` float32 of ``slices``, in their order and at their size."""


@dataclass(frozen=True, slots=True, eq=False)
class EvaluationRequest:
    """What an evaluator scores: maps and ground truth in the native frame.

    Attributes:
        scores: ``(N, H0, W0)`` float32 anomaly maps resampled to the native slice grid.
        reference: ground truth and brain masks for the same slices.
        threshold: binarisation threshold for count-based metrics.
        threshold_rule: how ``threshold`` was chosen, copied into every row.
    """

    scores: np.ndarray
    reference: ReferenceSlices
    threshold: float
    threshold_rule: str


@runtime_checkable
class Evaluator(Protocol):
    """Scores anomaly maps against ground truth under one named protocol."""

    def evaluate(self, request: EvaluationRequest) -> list[MetricRow]:
        """Long-format metric rows, one per evaluated unit and metric."""
