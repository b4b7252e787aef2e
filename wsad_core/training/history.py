"""What a training run records per epoch, stored in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Selection", "TrainingHistory"]

Selection = Literal["last", "best-validation"]


@dataclass(slots=True)
class TrainingHistory:
    """Per-epoch record of a :func:`~wsad_core.training.train` run (epochs are 0-based).

    Attributes:
        epochs: epochs the run was asked for.
        selection: which weights the model holds at the end.
        train_loss: mean training loss of each completed epoch.
        val_loss: validation loss of each completed epoch (empty without ``validate``).
        learning_rate: learning rate of the first parameter group during each epoch.
        seconds: wall-clock time of each epoch (training plus validation).
        best_epoch: epoch with the lowest finite validation loss, if any.
        selected_epoch: epoch whose weights the model holds after training.
        resumed_at: epochs at which an interrupted run was continued.
        monitor: what ``train``'s ``monitor`` returned after each epoch (empty without it):
            report-only values such as a validation Dice, never used to choose weights.
    """

    epochs: int
    selection: Selection = "last"
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    selected_epoch: int | None = None
    resumed_at: list[int] = field(default_factory=list)
    monitor: list[dict[str, float]] = field(default_factory=list)

    @property
    def completed(self) -> int:
        """Number of finished epochs."""
        return len(self.train_loss)

    def kept(self, unit: str = "epoch") -> str:
        """`` (epoch N of M)``: which of the finished epochs the weights are from, for ``checkpoint_selection``.

        Empty before an epoch was selected. ``unit`` names the epochs (``"pseudo-epoch"`` for fixed step counts).
        """
        if self.selected_epoch is None:
            return ""
        return f" ({unit} {self.selected_epoch + 1} of {self.completed})"

    @property
    def best_val_loss(self) -> float | None:
        """Validation loss of :attr:`best_epoch`, or ``None``."""
        return None if self.best_epoch is None else self.val_loss[self.best_epoch]

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as stored in checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingHistory:
        """Inverse of :meth:`to_dict`."""
        return cls(**{key: (list(value) if isinstance(value, (list, tuple)) else value) for key, value in data.items()})
