"""benchmarks/rasalore_diagnostics.py's check that maps are not dominated by the LoRE grid."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def share():
    path = REPO / "benchmarks" / "rasalore_diagnostics.py"
    spec = importlib.util.spec_from_file_location("rasalore_diagnostics", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # its sibling imports
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module.grid_periodic_share


def test_a_pure_grid_pattern_is_all_periodic(share):
    tile = np.random.default_rng(0).random((8, 8))
    assert share(np.tile(tile, (16, 16))[None], 8) == pytest.approx(1.0)


def test_a_blob_is_hardly_periodic(share):
    yy, xx = np.mgrid[0:128, 0:128]
    blob = (((yy - 60) ** 2 + (xx - 70) ** 2) < 30**2).astype(np.float32)
    assert share(blob[None], 8) < 0.01


def test_hand_computed_mix(share):
    # A 4 × 4 map, period 2: 2 × 2 tiles [[1, 0], [0, 0]] plus 1 on the top-left tile.
    grid = np.tile(np.array([[1.0, 0.0], [0.0, 0.0]]), (2, 2))
    offset = np.zeros((4, 4))
    offset[:2, :2] = 1
    mixed = grid + offset
    pattern = np.array([[1.5, 0.5], [0.5, 0.5]])  # the mean tile
    assert share(mixed[None], 2) == pytest.approx(pattern.var() / mixed.var())
    assert share(np.zeros((1, 4, 4)), 2) != share(np.zeros((1, 4, 4)), 2)  # no variance: NaN, not 0
