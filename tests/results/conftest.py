from __future__ import annotations

from pathlib import Path

import pytest

from wsad_core.results import RunDirectory


@pytest.fixture
def run(tmp_path: Path) -> RunDirectory:
    """A fresh run directory with fingerprint 'a' * 64."""
    return RunDirectory.open(tmp_path / "run", config_fingerprint="a" * 64, resume=False)
