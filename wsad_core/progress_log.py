"""Progress as log lines, for output that is not a terminal: ``run.log``, a pipe, a batch job's log file.

A bar redrawn in place is useless there, and silence for half an hour of LiteMedSAM looks like a hang. A task
logs one line when it starts, one at most every ``interval`` seconds while it runs (done/total, time
left) and one when it ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["LoggedProgress"]

log = logging.getLogger("wsad.progress")


def _duration(elapsed: float) -> str:
    seconds = round(elapsed)
    if seconds < 120:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 120:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class _LoggedTask:
    def __init__(self, description: str, total: int | None, interval: float, clock: Any) -> None:
        self.description, self.total, self.interval, self.clock = description, total, interval, clock
        self.done = 0
        self.started = self.last = clock()
        self.fields: dict[str, Any] = {}

    def advance(self, steps: int = 1, **fields: Any) -> None:
        self.done += steps
        self.fields.update(fields)
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            log.info("%s", self.line(now))

    def line(self, now: float, when: str = "after") -> str:
        elapsed = now - self.started
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        text = f"{self.description}: {count} {when} {_duration(elapsed)}"
        if self.total and 0 < self.done < self.total and elapsed > 0:
            text += f", about {_duration(elapsed * (self.total - self.done) / self.done)} left"
        shown = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.fields.items())
        return f"{text}  {shown}" if shown else text


class LoggedProgress:
    """A :class:`~wsad_core.context.ProgressReporter` that logs (logger ``wsad.progress``, level INFO).

    Args:
        interval: least seconds between two lines of one task.
        clock: monotonic clock (tests pass a fake one).
    """

    def __init__(self, interval: float = 60.0, clock: Any = time.monotonic) -> None:
        self.interval, self.clock = interval, clock

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[_LoggedTask]:
        """A task that logs its start, its progress every ``interval`` seconds and its end."""
        task = _LoggedTask(description, total, self.interval, self.clock)
        log.info("%s: started%s", description, f" ({total} to do)" if total else "")
        try:
            yield task
        finally:
            log.info("%s", task.line(self.clock(), when="done in"))
