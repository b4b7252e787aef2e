"""Progress bars for the command line (rich), implementing :class:`ProgressReporter`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["RichProgress"]


class _Task:
    def __init__(self, progress: Progress, task_id: Any) -> None:
        self._progress, self._id = progress, task_id

    def advance(self, steps: int = 1, **fields: Any) -> None:
        shown = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
        self._progress.update(self._id, advance=steps, status=shown)


class RichProgress:
    """One live display on stderr; nested tasks appear as extra bars."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._depth = 0

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[_Task]:
        """A progress bar shown while the ``with`` block runs."""
        if self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=self._console,
                transient=False,
            )
            self._progress.start()
        self._depth += 1
        task_id = self._progress.add_task(description, total=total, status="")
        try:
            yield _Task(self._progress, task_id)
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._progress.stop()
                self._progress = None
