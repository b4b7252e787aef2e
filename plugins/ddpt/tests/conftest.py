"""Shared helpers of the wsad-ddpt tests: tiny options, contexts, an isolated weights environment."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from wsad_core import BuildContext

#: The bundled 2-layer, width-64 open_clip config (64 px, 8 px patches → 8 x 8 grid), random init.
TINY = {"model": "ddpt-tiny", "pretrained": None, "allow_random_init": True, "epochs": 1}


@pytest.fixture(autouse=True, scope="session")
def isolated_weights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No user weights leak into a test: empty $WSAD_CACHE and home caches, no $WSAD_CLIP_WEIGHTS.

    Session-scoped so that the conformance suite's class-scoped runs are isolated too.
    """
    root = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("WSAD_CLIP_WEIGHTS", raising=False)
        patch.setenv("WSAD_CACHE", str(root / "wsad-cache"))
        patch.setenv("HOME", str(root))
        patch.setenv("HF_HUB_CACHE", str(root / "hf"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield root


@pytest.fixture
def context_factory(tmp_path: Path):
    """``context_factory(seed=0, name="run")``: a CPU BuildContext with its own work dir."""

    def build(seed: int = 0, name: str = "run", **kwargs: object) -> BuildContext:
        work_dir = tmp_path / name
        work_dir.mkdir(parents=True, exist_ok=True)
        return BuildContext(work_dir=work_dir, seed=seed, logger=logging.getLogger("wsad.test.ddpt"), **kwargs)

    return build


def _dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    total = prediction.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * (prediction & truth).sum() / total)


@pytest.fixture
def dice():
    """Dice of two boolean masks (1 when both are empty)."""
    return _dice


@pytest.fixture
def tiny() -> dict[str, object]:
    """Options of the bundled tiny random-init backbone, one epoch."""
    return dict(TINY)
