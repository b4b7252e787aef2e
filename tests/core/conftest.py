from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def make_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Create an importable distribution with `wsad` entry points, without pip."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    created: list[str] = []

    def make(dist: str, modules: dict[str, str], entry_points: dict[str, str], version: str = "1.2.3") -> None:
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[wsad]\n{lines}\n")
        for module, source in modules.items():
            (root / f"{module}.py").write_text(textwrap.dedent(source))
            created.append(module)

    yield make
    for module in created:
        sys.modules.pop(module, None)
