from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from wsad_core.errors import ContractError, DataError
from wsad_core.results import read_map_volume, write_map_volume

# BraTS-like LPS affine with a non-trivial offset and spacing.
AFFINE = np.array([[-1.0, 0, 0, 0], [0, -1.0, 0, 239.0], [0, 0, 1.2, -30.5], [0, 0, 0, 1]])
SHAPE = (12, 10, 9)


def _maps(n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((n, SHAPE[0], SHAPE[1]), dtype=np.float32)


@pytest.mark.parametrize("name", ["case_1.nii.gz", "case_1.nii"])
def test_round_trip_places_slices_at_k(tmp_path, name):
    maps = _maps()
    path = tmp_path / "maps" / name
    write_map_volume(path, maps, np.array([6, 2, 7]), SHAPE, AFFINE)
    volume, affine = read_map_volume(path)
    assert volume.shape == SHAPE
    assert volume.dtype == np.float32
    np.testing.assert_allclose(affine, AFFINE)
    np.testing.assert_array_equal(volume[:, :, 6], maps[0])
    np.testing.assert_array_equal(volume[:, :, 2], maps[1])
    np.testing.assert_array_equal(volume[:, :, 7], maps[2])
    untouched = [k for k in range(SHAPE[2]) if k not in (2, 6, 7)]
    assert not volume[:, :, untouched].any()
    image = nib.load(path)
    assert image.get_data_dtype() == np.float32
    assert int(image.header["sform_code"]) == 1
    assert int(image.header["qform_code"]) == 1
    with open(path, "rb") as handle:
        assert (handle.read(2) == b"\x1f\x8b") == name.endswith(".gz")


def test_no_slices_gives_an_all_zero_volume(tmp_path):
    path = tmp_path / "empty.nii.gz"
    write_map_volume(path, np.zeros((0, SHAPE[0], SHAPE[1]), np.float32), [], SHAPE, AFFINE)
    volume, _ = read_map_volume(path)
    assert volume.shape == SHAPE
    assert not volume.any()


@pytest.mark.parametrize(
    ("maps", "indices", "message"),
    [
        (_maps()[:, :5], [0, 1, 2], "expected"),
        (_maps(), [0, 1], "3 maps"),
        (_maps(), [0, 1, 9], "must lie in"),
        (_maps(), [0, 1, 1], "repeat"),
        (np.full((3, SHAPE[0], SHAPE[1]), np.nan, np.float32), [0, 1, 2], "NaN"),
    ],
)
def test_contract_errors_leave_existing_file(tmp_path, maps, indices, message):
    path = tmp_path / "m.nii.gz"
    write_map_volume(path, _maps(1), [0], SHAPE, AFFINE)
    before = path.read_bytes()
    with pytest.raises(ContractError, match=message):
        write_map_volume(path, maps, indices, SHAPE, AFFINE)
    assert path.read_bytes() == before


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_map_volume(tmp_path / "nope.nii.gz")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_file_is_a_data_error(tmp_path, damage):
    path = tmp_path / "bad.nii.gz"
    write_map_volume(path, _maps(), [0, 1, 2], SHAPE, AFFINE)
    data = path.read_bytes()
    path.write_bytes(b"definitely not nifti" * 20 if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable NIfTI"):
        read_map_volume(path)


def test_non_3d_volume_is_a_data_error(tmp_path):
    path = tmp_path / "four.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)), path)
    with pytest.raises(DataError, match="expected a 3-D volume"):
        read_map_volume(path)
    single = tmp_path / "single.nii"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4, 1), np.float32), np.eye(4)), single)
    assert read_map_volume(single)[0].shape == (4, 4, 4)


def test_gzip_output_is_deterministic(tmp_path):
    for name in ("a.nii.gz", "b.nii.gz"):
        write_map_volume(tmp_path / name, _maps(), [0, 1, 2], SHAPE, AFFINE)
    assert (tmp_path / "a.nii.gz").read_bytes() == (tmp_path / "b.nii.gz").read_bytes()
    assert len(gzip.decompress((tmp_path / "a.nii.gz").read_bytes())) > np.prod(SHAPE) * 4


@pytest.mark.realdata
def test_map_lands_in_the_grid_of_a_real_case(tmp_path, real_root):
    root = real_root
    truth = nib.load(root / "case_0" / "GT_W.nii.gz")
    mask = np.asarray(truth.dataobj) > 0
    k = int(np.argmax(mask.sum(axis=(0, 1))))
    path = tmp_path / "case_0.nii.gz"
    write_map_volume(path, mask[None, :, :, k].astype(np.float32), [k], truth.shape, truth.affine)
    volume, affine = read_map_volume(path)
    np.testing.assert_allclose(affine, truth.affine)
    assert volume.shape == truth.shape
    np.testing.assert_array_equal(volume > 0.5, np.where(np.arange(truth.shape[2]) == k, mask, False))
