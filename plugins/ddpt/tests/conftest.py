"""Shared helpers of the wsad-ddpt tests: tiny options, contexts, an isolated weights environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

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
def context_factory(wsad_context_factory):
    """The core's ``wsad_context_factory`` (CPU contexts with their own work directories)."""
    return wsad_context_factory


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
