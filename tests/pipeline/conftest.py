from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wsad_core.config import RunConfig

#: Small, fast settings: 48x48x36 phantoms (lesions > 20 px count as anomalous), 32² slices, a tiny U-Net.
FAST: dict[str, Any] = {
    "data": {"preprocess": {"skip_first": 4, "skip_last": 4, "size": 32, "min_lesion_pixels": 20}},
    "evaluation": {"protocol_options": {"per-slice": {"min_lesion_pixels": 20}}},
    "output": {"overlays": 2},
}
TINY_UNET = {"epochs": 1, "channels": [8, 16], "batch_size": 8}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path_factory.getbasetemp() / "wsad-cache"))


def make_config(source: Path | str, out: Path, **pipeline: Any) -> RunConfig:
    """A fast run configuration; ``pipeline`` maps roles to names or (name, options)."""
    stages = {}
    for role, value in pipeline.items():
        name, options = (value, {}) if isinstance(value, str) else value
        stages[role] = {"name": name, "options": options}
    return RunConfig.model_validate(
        {
            **FAST,
            "data": {**FAST["data"], "source": str(source)},
            "pipeline": stages,
            "output": {**FAST["output"], "out_dir": str(out)},
        }
    )
