"""Progress as log lines where no terminal shows bars."""

from __future__ import annotations

import logging

from wsad_core.progress_log import LoggedProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_task_logs_its_start_at_most_one_line_per_interval_and_its_end(caplog) -> None:
    clock = Clock()
    progress = LoggedProgress(interval=60, clock=clock)
    with caplog.at_level(logging.INFO, logger="wsad.progress"), progress.task("MedSAM (lite)", total=100) as task:
        for _ in range(100):
            clock.now += 3.0  # 300 s in all: a line at 60, 120, 180, 240, 300 s
            task.advance(1, loss=0.25)
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "MedSAM (lite): started (100 to do)"
    assert len(lines) == 1 + 5 + 1
    assert lines[1].startswith("MedSAM (lite): 20/100 after 60 s, about 4 min 00 s left")
    assert "loss=0.25" in lines[1]
    assert lines[-1].startswith("MedSAM (lite): 100/100 done in 5 min 00 s")
