"""prepare_case: shapes, ranges, zero outside the brain, slice range, label counts; frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wsad_core.data import PreprocessConfig, normalise_volume, prepare_case, to_model, to_native
from wsad_core.data.index import CaseRecord, VolumeRef
from wsad_core.errors import DataError

from .conftest import phantom

CONFIG = PreprocessConfig(skip_first=3, skip_last=4, size=40)


def _case(tmp_path: Path, seed: int = 0, lesions: int = 1, shape: tuple[int, int, int] = (36, 30, 24)) -> tuple:
    synthetic = phantom(seed=seed, lesions=lesions, shape=shape, modalities=("flair", "t1"))
    files = synthetic.write(tmp_path / f"case{seed}")
    record = CaseRecord(
        f"case{seed}", {m: VolumeRef(files[m]) for m in ("flair", "t1")}, VolumeRef(files["seg"]) if lesions else None
    )
    return record, synthetic


def test_shapes_dtypes_and_slice_range(tmp_path: Path) -> None:
    record, synthetic = _case(tmp_path)
    prepared = prepare_case(record, ("flair", "t1"), CONFIG)
    depth = synthetic.mask.shape[2]
    n = depth - CONFIG.skip_first - CONFIG.skip_last
    assert len(prepared) == n
    np.testing.assert_array_equal(prepared.slice_indices, np.arange(3, depth - 4))
    assert prepared.slice_indices.dtype == np.int32
    assert prepared.images.shape == (n, 2, 40, 40)
    assert prepared.images.dtype == np.float32
    assert prepared.brain_masks.shape == (n, 40, 40)
    assert prepared.brain_masks.dtype == np.bool_
    assert prepared.native_masks.shape == (n, 36, 30)
    assert prepared.native_brain.shape == (n, 36, 30)
    assert prepared.native_shape == (36, 30, 24)
    assert prepared.modalities == ("flair", "t1")
    np.testing.assert_array_equal(prepared.affine, synthetic.affine)
    assert prepared.has_mask


def test_ranges_and_zero_outside_brain(tmp_path: Path) -> None:
    record, _ = _case(tmp_path)
    prepared = prepare_case(record, ("flair", "t1"), CONFIG)
    assert prepared.images.min() >= 0.0
    assert prepared.images.max() <= 1.0
    assert prepared.images.max() > 0.99
    outside = ~prepared.brain_masks[:, None].repeat(2, axis=1)
    assert not prepared.images[outside].any()
    # Inside the brain almost every pixel carries signal.
    inside = prepared.images[:, 0][prepared.brain_masks]
    assert (inside > 0).mean() > 0.97


def test_native_slices_are_raw_axial_slices(tmp_path: Path) -> None:
    record, synthetic = _case(tmp_path)
    prepared = prepare_case(record, ("flair",), CONFIG)
    for row, k in enumerate(prepared.slice_indices):
        np.testing.assert_array_equal(prepared.native_masks[row], synthetic.mask[:, :, k] > 0)
        np.testing.assert_array_equal(prepared.native_brain[row], synthetic.images["flair"][:, :, k] > 0)


def test_lesion_pixel_counts(tmp_path: Path) -> None:
    record, synthetic = _case(tmp_path, lesions=2)
    prepared = prepare_case(record, ("flair",), CONFIG)
    expected = synthetic.mask[:, :, 3:20].sum(axis=(0, 1))
    np.testing.assert_array_equal(prepared.lesion_pixels, expected)
    assert prepared.lesion_pixels.dtype == np.int32
    assert prepared.lesion_pixels.sum() > 0
    assert (prepared.lesion_pixels == 0).any()


def test_lesion_is_bright_on_flair(tmp_path: Path) -> None:
    record, _ = _case(tmp_path, lesions=1)
    prepared = prepare_case(record, ("flair",), PreprocessConfig(skip_first=3, skip_last=4, size=36))
    k = int(np.argmax(prepared.lesion_pixels))
    # Back to the native frame, where the masks are.
    native = to_native(prepared.images[:, 0], prepared.native_hw)
    lesion = prepared.native_masks[k]
    healthy = prepared.native_brain[k] & ~lesion
    assert native[k][lesion].mean() > native[k][healthy].mean() + 0.2


def test_case_without_mask(tmp_path: Path) -> None:
    record, _ = _case(tmp_path, lesions=0)
    prepared = prepare_case(record, ("flair",), CONFIG)
    assert not prepared.has_mask
    assert not prepared.native_masks.any()
    assert not prepared.lesion_pixels.any()


def test_no_slice_left(tmp_path: Path) -> None:
    record, _ = _case(tmp_path)
    with pytest.raises(DataError, match="24 axial slices leave none"):
        prepare_case(record, ("flair",), PreprocessConfig(skip_first=12, skip_last=12, size=16))


def test_volume_percentile_normalisation() -> None:
    rng = np.random.default_rng(0)
    volume = rng.normal(500, 100, (20, 20, 10)).astype(np.float32)
    brain = np.zeros(volume.shape, bool)
    brain[2:18, 2:18] = True
    volume[~brain] = 0
    out = normalise_volume(volume, brain, PreprocessConfig())
    assert out.dtype == np.float32
    assert not out[~brain].any()
    # 0.5 % of brain voxels at each end saturate.
    assert 0.002 < (out[brain] >= 1.0).mean() < 0.01
    assert 0.002 < (out[brain] <= 0.0).mean() < 0.01


def test_slice_minmax_normalisation() -> None:
    rng = np.random.default_rng(1)
    volume = rng.uniform(10, 20, (8, 8, 4)).astype(np.float32)
    volume[..., 2] *= 50
    brain = np.ones(volume.shape, bool)
    out = normalise_volume(volume, brain, PreprocessConfig(normalisation="slice-minmax"))
    np.testing.assert_allclose(out.max(axis=(0, 1)), 1.0)
    np.testing.assert_allclose(out.min(axis=(0, 1)), 0.0)


def test_frames_round_trip_and_dtypes() -> None:
    rng = np.random.default_rng(2)
    native = rng.random((5, 30, 24)).astype(np.float32)
    model = to_model(native, 64)
    assert model.shape == (5, 64, 64)
    assert model.dtype == np.float32
    back = to_native(model, (30, 24))
    assert back.shape == (5, 30, 24)
    constant = to_native(np.full((2, 16, 16), 0.25, np.float32), (50, 40))
    np.testing.assert_allclose(constant, 0.25, atol=1e-6)
    mask = np.zeros((1, 8, 8), bool)
    mask[0, 2:6, 2:6] = True
    up = to_native(mask, (16, 16))
    assert up.dtype == np.bool_
    assert up.sum() == 64
    assert to_model(native, 30).shape == (5, 30, 30)
    same = to_native(model, (64, 64))
    assert same is model
