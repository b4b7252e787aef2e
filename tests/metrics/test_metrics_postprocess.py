"""Median filters, connected-component filter and erosion."""

from __future__ import annotations

import numpy as np
import pytest

from wsad_core.errors import ConfigError, ContractError
from wsad_core.metrics import erode_mask, median_filter_slices, median_filter_volume, remove_small_components


def test_median_filter_slices_keeps_slices_independent():
    maps = np.zeros((3, 9, 9), dtype=np.float32)
    maps[1, 4, 4] = 1.0  # isolated hot pixel: removed by a 3x3 median
    maps[2] = 1.0  # a uniform slice next to empty ones must stay uniform (no mixing across slices)
    out = median_filter_slices(maps, 3)
    assert out.dtype == np.float32
    assert out.shape == maps.shape
    assert out[1].max() == 0.0
    assert np.all(out[2] == 1.0)
    assert np.all(out[0] == 0.0)
    assert np.array_equal(median_filter_slices(maps, 0), maps)
    assert median_filter_slices(maps, 1) is not maps


def test_median_filter_volume_mixes_slices():
    volume = np.zeros((5, 7, 7), dtype=np.float32)
    volume[1:4, 1:6, 1:6] = 1.0  # a 3x5x5 block survives a 3-cube median in its core
    volume[0, 0, 0] = 1.0  # isolated voxel: removed
    out = median_filter_volume(volume, 3)
    assert out[0, 0, 0] == 0.0
    assert out[2, 3, 3] == 1.0
    # The block's corners lose: at (2, 1, 1) only 12 of the 27 neighbours are inside it.
    assert out[1, 3, 3] == 1.0
    assert out[2, 1, 1] == 0.0
    assert out[1, 1, 1] == 0.0
    # Next to the empty slice 0, (1, 1, 2) has 12 of 27 neighbours inside in 3-D, but 6 of 9 in 2-D.
    assert out[1, 1, 2] == 0.0
    assert median_filter_slices(volume, 3)[1, 1, 2] == 1.0
    with pytest.raises(ContractError, match="3-D"):
        median_filter_volume(volume[0], 3)
    with pytest.raises(ConfigError, match="non-negative"):
        median_filter_volume(volume, -1)


def test_remove_small_components_2d_and_connectivity():
    mask = np.zeros((10, 10), dtype=bool)
    mask[0:2, 0:2] = True  # 4 px
    mask[5:8, 5:9] = True  # 12 px
    mask[2, 2] = True  # touches the 4-px block only diagonally
    out = remove_small_components(mask, 6)
    assert out.sum() == 12
    assert out[5:8, 5:9].all()
    assert remove_small_components(mask, 5, connectivity="full")[0:3, 0:3].sum() == 5  # 4 + diagonal = 5 kept
    assert remove_small_components(mask, 5, connectivity="face")[0:3, 0:3].sum() == 0
    assert np.array_equal(remove_small_components(mask, 0), mask)


def test_remove_small_components_3d_and_errors():
    mask = np.zeros((4, 6, 6), dtype=bool)
    mask[0, 0, 0] = mask[1, 1, 1] = True  # 26-connected pair
    mask[2:4, 3:6, 3:6] = True  # 18 voxels
    out = remove_small_components(mask, 3)
    assert out.sum() == 18
    assert remove_small_components(mask, 2).sum() == 20
    with pytest.raises(ContractError, match="bool"):
        remove_small_components(mask.astype(np.uint8), 3)
    with pytest.raises(ConfigError, match="connectivity"):
        remove_small_components(mask, 3, connectivity="edge")


def test_erode_mask():
    mask = np.zeros((9, 9), dtype=bool)
    mask[2:7, 2:7] = True
    once = erode_mask(mask, 1)
    assert once.sum() == 9
    assert once[3:6, 3:6].all()
    assert erode_mask(mask, 2).sum() == 1
    assert np.array_equal(erode_mask(mask, 0), mask)
    with pytest.raises(ConfigError):
        erode_mask(mask, -2)
