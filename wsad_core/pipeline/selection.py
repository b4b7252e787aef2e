"""Checkpoint selection on validation ground truth, for options that reproduce an official protocol.

RASALoRE's official code keeps the epoch with the best validation Dice against pixel ground
truth (rasalore.md §9, defect 1). A plugin can reproduce it without ever holding the masks:
the core hands it :class:`ValidationDice` as ``BuildContext.validation_dice``, which scores
the plugin's maps of its validation slices and counts the calls, so that every row of a run
that used it says ``selection=gt-val``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from wsad_core.data.frames import to_native
from wsad_core.errors import ContractError
from wsad_core.metrics.threshold_search import dice_at_thresholds

if TYPE_CHECKING:
    from wsad_core.data.assemble import SplitSlices
    from wsad_core.types import ScoreMaps

__all__ = ["GT_VAL", "ValidationDice"]

log = logging.getLogger("wsad.selection")

#: What the ``selection`` column says of a stage that called :class:`ValidationDice`.
GT_VAL = "gt-val: best epoch by validation Dice against pixel ground truth (official protocol; uses validation labels)"


class ValidationDice:
    """``maps -> per-slice mean Dice at 0.5`` of the validation slices a plugin was given to ``fit``.

    Slices with more than ``min_lesion_pixels`` lesion pixels (native frame) are scored, as in
    the per-slice protocol; maps are brought to the native grid first.

    Attributes:
        calls: how often the plugin asked (a run with ``calls > 0`` selected on ground truth).
    """

    def __init__(self, validation: SplitSlices, positions: np.ndarray, min_lesion_pixels: int) -> None:
        self._reference = validation.reference.select(positions)
        shapes = {case.native_shape[:2] for case in validation.cases.values()}
        self._native_hw = shapes.pop() if len(shapes) == 1 else None
        lesion = self._reference.masks.reshape(len(self._reference), -1).sum(axis=1)
        self._kept = np.flatnonzero(lesion > min_lesion_pixels)
        self.calls = 0

    def __call__(self, maps: ScoreMaps) -> float:
        """The Dice of ``maps`` (one per validation slice given to ``fit``, in that order and frame).

        Raises:
            ContractError: the maps do not match the validation slices.
        """
        self.calls += 1
        scores = np.asarray(maps.scores, dtype=np.float32)
        if scores.ndim != 3 or scores.shape[0] != len(self._reference):
            raise ContractError(
                f"validation_dice: got maps of shape {scores.shape} for {len(self._reference)} validation slices"
            )
        if self._native_hw is None:
            raise ContractError("validation_dice: the validation volumes have different in-plane shapes")
        if self._kept.size == 0:
            # NaN, not 0: every epoch would tie at 0 and a selection would silently keep the first.
            log.warning("validation_dice: no validation slice has enough lesion pixels; the score is undefined")
            return float("nan")
        native = to_native(scores[self._kept], self._native_hw)
        truth = self._reference.masks[self._kept]
        values = [float(dice_at_thresholds(native[i], truth[i], [0.5])[0]) for i in range(self._kept.size)]
        return float(np.mean(values))
