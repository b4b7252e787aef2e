"""Threshold rules and the exact best-Dice threshold search.

Three rules (shared/docs/evaluation.md §3.1), written as text in configs and results:

* ``fixed`` / ``fixed:0.35`` — a constant (default 0.5, RASALoRE's value, rasalore.md §10);
  meaningful for calibrated probability maps.
* ``val-best`` — the threshold maximising, on the validation patients (training patients,
  never test patients), the Dice statistic the protocol reports: per-slice mean Dice for
  ``per-slice``, pooled Dice for ``pooled``, mean volume Dice for ``per-volume``. Honest.
* ``oracle`` — the same search on the test patients' labels, over candidates that include
  every other rule's threshold, so it bounds them from above on the reported statistic. A
  ceiling for what a threshold could give, never a result: every output marks it.

``test-best``, ``test-oracle`` (older names) and ``val-best-dice`` are accepted as aliases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from wsad_core.errors import ConfigError, ContractError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_FIXED_THRESHOLD",
    "ORACLE",
    "ThresholdRule",
    "best_dice_threshold",
    "is_oracle",
    "parse_threshold_rule",
    "resolve_threshold",
]

RuleName = Literal["fixed", "val-best", "oracle"]

DEFAULT_FIXED_THRESHOLD = 0.5
"""RASALoRE binarises its sigmoid output at 0.5 (rasalore.md §10)."""

ORACLE = "oracle"
"""Canonical text of the rule that chooses its threshold on test labels."""

_ALIASES: dict[str, RuleName] = {
    "val-best": "val-best",
    "val-best-dice": "val-best",
    "oracle": "oracle",
    "test-best": "oracle",
    "test-oracle": "oracle",
}
_VALID_FORMS = "'fixed' (0.5), 'fixed:<number>' (e.g. 'fixed:0.35'), 'val-best', 'oracle'"


def is_oracle(threshold_rule: str, protocol: str = "") -> bool:
    """Whether a result used test labels to choose its threshold (or its protocol is an oracle one).

    Recognises ``oracle`` and the older ``test-best`` / ``test-oracle`` names, so that results
    written by earlier versions are still marked.
    """
    rule = str(threshold_rule).lower()
    return rule in ("oracle", "test-best", "test-oracle") or "oracle" in str(protocol).lower()


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """How the binarisation threshold of a run is chosen.

    Attributes:
        name: ``"fixed"``, ``"val-best"`` or ``"oracle"``.
        value: the constant of a ``fixed`` rule, ``None`` otherwise.
    """

    name: RuleName
    value: float | None = None

    def __post_init__(self) -> None:
        if self.name not in ("fixed", "val-best", "oracle"):
            raise ConfigError(f"unknown threshold rule {self.name!r}", hint=f"use one of {_VALID_FORMS}")
        if self.name == "fixed" and self.value is None:
            object.__setattr__(self, "value", DEFAULT_FIXED_THRESHOLD)
        elif self.name != "fixed" and self.value is not None:
            raise ConfigError(f"threshold rule {self.name!r} takes no value", hint=f"use one of {_VALID_FORMS}")

    @property
    def text(self) -> str:
        """Canonical text, e.g. ``"fixed:0.5"``; :func:`parse_threshold_rule` reads it back."""
        return f"fixed:{self.value!r}" if self.name == "fixed" else self.name

    @property
    def is_oracle(self) -> bool:
        """The threshold was chosen on test labels: a ceiling, not a result."""
        return self.name == "oracle"

    @property
    def split(self) -> Literal["validation", "test"] | None:
        """The split whose pixel labels choose the threshold, ``None`` for a fixed one."""
        return {"fixed": None, "val-best": "validation", "oracle": "test"}[self.name]

    @property
    def label(self) -> str:
        """Human-readable description printed beside results."""
        if self.name == "fixed":
            return f"fixed threshold {self.value!r}"
        if self.name == "val-best":
            return "best Dice statistic of the protocol on the validation patients' labels"
        return "oracle: best Dice statistic of the protocol on the test labels (a ceiling, not a result)"

    def __str__(self) -> str:
        return self.text


def parse_threshold_rule(text: str) -> ThresholdRule:
    """Parse ``"fixed"``, ``"fixed:0.35"``, ``"val-best"`` or ``"oracle"`` (or an alias).

    Args:
        text: the rule as written in a config or on the command line (case-insensitive).

    Returns:
        The rule.

    Raises:
        ConfigError: the text is none of the valid forms, or the fixed value is not finite.
    """
    cleaned = str(text).strip().lower()
    if cleaned in _ALIASES:
        return ThresholdRule(_ALIASES[cleaned])
    head, sep, tail = cleaned.partition(":")
    if head == "fixed":
        if not sep:
            return ThresholdRule("fixed", DEFAULT_FIXED_THRESHOLD)
        try:
            value = float(tail)
        except ValueError:
            value = float("nan")
        if np.isfinite(value):
            return ThresholdRule("fixed", value)
    raise ConfigError(f"threshold rule {text!r} is not valid", hint=f"use one of {_VALID_FORMS}")


def best_dice_threshold(scores: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """The threshold maximising pooled Dice of ``scores >= t``, searched exactly.

    Every distinct score is a candidate (no grid). Only scores of positives can be optimal:
    raising ``t`` past a value held by negatives alone removes false positives and keeps
    true ones. Ties in Dice go to the largest threshold (the smallest prediction).
    Without positives the best prediction is the empty one (Dice 1 by the convention of
    :mod:`wsad_core.metrics.counts`): the threshold returned is then the next
    representable value above the largest score.

    Args:
        scores: finite scores of any shape (flattened), e.g. the in-brain pixels of a split.
        targets: bool ground truth of the same shape.

    Returns:
        ``(threshold, dice)``.

    Raises:
        ContractError: the inputs are empty, of different shapes, or not finite.
    """
    import torch

    if scores.shape != targets.shape or targets.dtype != torch.bool:
        raise ContractError(
            f"best_dice_threshold: targets must be bool of shape {tuple(scores.shape)}, "
            f"got {targets.dtype} {tuple(targets.shape)}"
        )
    if scores.numel() == 0:
        raise ContractError("best_dice_threshold: no scores to choose a threshold from")
    if not scores.is_floating_point() or scores.dtype in (torch.float16, torch.bfloat16):
        scores = scores.to(torch.float32 if scores.is_floating_point() else torch.float64)
    scores = scores.detach()
    if scores.device.type == "cpu":
        return _best_dice_numpy(scores.reshape(-1).numpy(), targets.reshape(-1).numpy())
    return _best_dice_torch(scores.reshape(-1), targets.reshape(-1))


def resolve_threshold(rule: ThresholdRule, scores: torch.Tensor | None, targets: torch.Tensor | None) -> float:
    """The threshold a rule gives: its value, or the best-Dice search on the given pixels.

    Args:
        rule: the rule.
        scores: the pixels of :attr:`ThresholdRule.split` (ignored for ``fixed``).
        targets: their ground truth (ignored for ``fixed``).

    Returns:
        The threshold.

    Raises:
        ContractError: a data-driven rule got no pixels.
    """
    if rule.name == "fixed":
        return float(rule.value if rule.value is not None else DEFAULT_FIXED_THRESHOLD)
    if scores is None or targets is None:
        raise ContractError(f"threshold rule {rule.text!r} needs the {rule.split} split's scores and labels")
    return best_dice_threshold(scores, targets)[0]


def _best_dice_numpy(scores: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    ladder = np.sort(scores)
    if not (np.isfinite(ladder[0]) and np.isfinite(ladder[-1])):
        _raise_not_finite()
    positives = np.sort(scores[targets])
    k = positives.size
    if k == 0:
        return float(np.nextafter(ladder[-1], np.asarray(np.inf, dtype=ladder.dtype))), 1.0
    predicted = ladder.size - ladder.searchsorted(positives, "left")
    true_positive = k - positives.searchsorted(positives, "left")
    dice = 2.0 * true_positive / (predicted + k)
    best = int(np.flatnonzero(dice == dice.max())[-1])
    return float(positives[best]), float(dice[best])


def _best_dice_torch(scores: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    import torch

    ladder = torch.sort(scores).values
    if not bool(torch.isfinite(ladder[[0, -1]]).all()):
        _raise_not_finite()
    positives = torch.sort(scores[targets]).values
    k = positives.numel()
    if k == 0:
        above = torch.nextafter(ladder[-1], torch.tensor(float("inf"), dtype=ladder.dtype, device=ladder.device))
        return float(above), 1.0
    predicted = ladder.numel() - torch.searchsorted(ladder, positives)
    true_positive = k - torch.searchsorted(positives, positives)
    dice = 2.0 * true_positive.to(torch.float64) / (predicted + k).to(torch.float64)
    best = int(torch.nonzero(dice == dice.max())[-1, 0])
    return float(positives[best]), float(dice[best])


def _raise_not_finite() -> None:
    raise ContractError(
        "best_dice_threshold: scores contain NaN or Inf", hint="clip or replace non-finite map values first"
    )
