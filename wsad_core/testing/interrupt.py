"""A progress reporter that stops a run where a real interruption would: for resume tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["InterruptAt"]


class InterruptAt:
    """Raises ``KeyboardInterrupt`` when the progress bar named ``description`` starts (a killed run).

    Pass it as ``BuildContext(progress=InterruptAt("unet 3/4"))``: the training loop opens one bar per epoch,
    so the run stops after the epochs before it, with their checkpoints on disk.
    """

    def __init__(self, description: str) -> None:
        self.description = description

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[InterruptAt]:
        """A silent bar, or the interruption when it is the named one."""
        del total
        if description == self.description:
            raise KeyboardInterrupt
        yield self

    def advance(self, steps: int = 1, **fields: object) -> None:
        """Nothing to show."""
