"""Bad input gets a specific one-line DataError naming the file; good input loads as float32."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from wsad_core.data import PreprocessConfig, check_same_grid, load_volume, prepare_case, read_header
from wsad_core.data.index import CaseRecord, VolumeRef
from wsad_core.errors import DataError

from .conftest import save


def _volume(seed: int = 0, shape: tuple[int, ...] = (12, 10, 8)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(1, 100, shape).astype(np.float32)


def _error(ref: VolumeRef, role: str = "image") -> str:
    with pytest.raises(DataError) as info:
        load_volume(ref, role=role)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert str(ref.path) in message
    return message


def test_good_volume_loads_as_float32(tmp_path: Path) -> None:
    data = _volume()
    affine = np.diag([1.5, 1.0, 2.0, 1.0])
    volume = load_volume(VolumeRef(save(tmp_path / "a.nii.gz", data, affine)))
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array, data)
    assert volume.affine.dtype == np.float64
    np.testing.assert_array_equal(volume.affine, affine)
    assert volume.zooms == (1.5, 1.0, 2.0)
    assert read_header(VolumeRef(tmp_path / "a.nii.gz")).shape == (12, 10, 8)


def test_missing_path(tmp_path: Path) -> None:
    assert "does not exist" in _error(VolumeRef(tmp_path / "nope.nii.gz"))


def test_corrupt_file_not_nifti(tmp_path: Path) -> None:
    path = tmp_path / "junk.nii"
    path.write_bytes(b"this is not an image" * 50)
    assert "not a NIfTI image" in _error(VolumeRef(path))


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "junk.nii.gz"
    path.write_bytes(b"this is not gzip" * 50)
    assert "corrupt or truncated" in _error(VolumeRef(path))


def test_gzip_of_something_else(tmp_path: Path) -> None:
    path = tmp_path / "text.nii.gz"
    path.write_bytes(gzip.compress(b"hello" * 200))
    assert "not a NIfTI image" in _error(VolumeRef(path))


def test_truncated_gz(tmp_path: Path) -> None:
    good = save(tmp_path / "good.nii.gz", _volume())
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    message = _error(VolumeRef(path))
    assert "corrupt or truncated" in message
    assert "EOFError" in message


def test_truncated_uncompressed(tmp_path: Path) -> None:
    good = save(tmp_path / "good.nii", _volume())
    path = tmp_path / "cut.nii"
    path.write_bytes(good.read_bytes()[:1000])
    assert "corrupt or truncated" in _error(VolumeRef(path))


def test_damaged_middle_of_gz_fails_crc(tmp_path: Path) -> None:
    good = save(tmp_path / "good.nii.gz", _volume(shape=(40, 40, 30)))
    raw = bytearray(good.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 64] = bytes(64)
    path = tmp_path / "damaged.nii.gz"
    path.write_bytes(bytes(raw))
    assert "corrupt or truncated" in _error(VolumeRef(path))


def test_4d_image_where_3d_expected(tmp_path: Path) -> None:
    path = save(tmp_path / "four.nii.gz", _volume(shape=(8, 8, 6, 3)))
    assert "4-D image of shape (8, 8, 6, 3) where a 3-D volume is expected" in _error(VolumeRef(path))


def test_4d_channel_selected_and_out_of_range(tmp_path: Path) -> None:
    data = _volume(shape=(8, 8, 6, 3))
    path = save(tmp_path / "four.nii.gz", data)
    np.testing.assert_array_equal(load_volume(VolumeRef(path, 2)).array, data[..., 2])
    assert "channel 3 out of range, the file has 3 channels" in _error(VolumeRef(path, 3))


def test_trailing_singleton_axis_is_3d(tmp_path: Path) -> None:
    data = _volume(shape=(8, 8, 6, 1))
    volume = load_volume(VolumeRef(save(tmp_path / "one.nii.gz", data)))
    assert volume.shape == (8, 8, 6)


def test_2d_image(tmp_path: Path) -> None:
    path = save(tmp_path / "flat.nii.gz", _volume(shape=(8, 8)))
    assert "expected a 3-D volume" in _error(VolumeRef(path))


def test_all_zero_image(tmp_path: Path) -> None:
    path = save(tmp_path / "zero.nii.gz", np.zeros((6, 6, 6), np.float32))
    assert "all zero" in _error(VolumeRef(path))
    # An all-zero mask is a healthy case, not an error.
    assert not load_volume(VolumeRef(path), role="mask").array.any()


def test_nan_voxels(tmp_path: Path) -> None:
    data = _volume()
    data[0, 0, :3] = np.nan
    path = save(tmp_path / "nan.nii.gz", data)
    assert "3 NaN and 0 Inf voxels" in _error(VolumeRef(path))


def test_inf_voxels(tmp_path: Path) -> None:
    data = _volume()
    data[1, 1, 1] = np.inf
    data[2, 2, 2] = -np.inf
    path = save(tmp_path / "inf.nii.gz", data)
    assert "0 NaN and 2 Inf voxels" in _error(VolumeRef(path))
    assert "NaN" in _error(VolumeRef(path), role="mask")


def test_mask_labels_become_lesion(tmp_path: Path) -> None:
    labels = np.zeros((6, 6, 6), np.uint8)
    labels[1, 1, 1], labels[2, 2, 2], labels[3, 3, 3] = 1, 2, 4
    mask = load_volume(VolumeRef(save(tmp_path / "seg.nii.gz", labels)), role="mask")
    assert mask.array.dtype == np.float32
    assert set(np.unique(mask.array)) == {0.0, 1.0}
    assert mask.array.sum() == 3


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ((1.0, -1.0), ("negative", "-1")),
        ((2.0, -4.0), ("negative", "-4")),
        ((0.5, 1.0), ("non-integer", "0.5")),
        ((0.25, 0.75), ("non-integer", "0.25, 0.75")),
    ],
)
def test_label_values_outside_the_convention_are_rejected_with_the_values(
    tmp_path: Path, values: tuple[float, float], words: tuple[str, str]
) -> None:
    labels = np.zeros((6, 6, 6), np.float32)
    labels[1, 1, 1], labels[2, 2, 2] = values
    ref = VolumeRef(save(tmp_path / "seg.nii.gz", labels))
    for role in ("mask", "labels"):
        message = _error(ref, role)
        assert all(word in message for word in words), message


def test_integer_labels_stored_as_scaled_floats_are_accepted(tmp_path: Path) -> None:
    labels = np.zeros((6, 6, 6), np.float32)
    labels[1, 1, 1], labels[2, 2, 2] = 1.0000001, 3.9999999
    mask = load_volume(VolumeRef(save(tmp_path / "seg.nii.gz", labels)), role="labels")
    assert sorted(np.unique(mask.array)) == [0.0, 1.0, 4.0]


def test_lesion_labels_choose_which_labels_are_lesion(tmp_path: Path) -> None:
    labels = np.zeros((6, 6, 6), np.uint8)
    labels[1, 1, 1], labels[2, 2, 2], labels[3, 3, 3] = 1, 2, 4
    ref = VolumeRef(save(tmp_path / "seg.nii.gz", labels))
    core = load_volume(ref, role="mask", lesion_labels=(1, 4))
    assert core.array[1, 1, 1] == 1.0
    assert core.array[2, 2, 2] == 0.0, "label 2 (oedema) is healthy when only 1 and 4 are lesion"
    assert core.array.sum() == 2
    with pytest.raises(ValueError, match="lesion_labels"):
        PreprocessConfig(lesion_labels=(0, 1))


def test_shape_mismatch_names_both_files(tmp_path: Path) -> None:
    a = load_volume(VolumeRef(save(tmp_path / "a.nii.gz", _volume(shape=(8, 8, 6)))))
    b = load_volume(VolumeRef(save(tmp_path / "b.nii.gz", _volume(shape=(8, 8, 7)))))
    with pytest.raises(DataError, match="shape") as info:
        check_same_grid(a, b)
    assert "a.nii.gz" in str(info.value)
    assert "b.nii.gz" in str(info.value)


def test_affine_mismatch_names_both_files(tmp_path: Path) -> None:
    shifted = np.eye(4)
    shifted[0, 3] = 0.5
    a = load_volume(VolumeRef(save(tmp_path / "a.nii.gz", _volume())))
    b = load_volume(VolumeRef(save(tmp_path / "b.nii.gz", _volume(), shifted)))
    with pytest.raises(DataError, match="different affines") as info:
        check_same_grid(a, b)
    assert "a.nii.gz" in str(info.value)
    assert "b.nii.gz" in str(info.value)
    # Rounding noise below the tolerance is the same grid.
    nearly = np.eye(4)
    nearly[0, 3] = 1e-5
    check_same_grid(a, load_volume(VolumeRef(save(tmp_path / "c.nii.gz", _volume(), nearly))))


def test_image_mask_mismatch_in_prepare_case(tmp_path: Path) -> None:
    image = save(tmp_path / "flair.nii.gz", _volume(shape=(8, 8, 10)))
    mask = save(tmp_path / "seg.nii.gz", np.zeros((8, 9, 10), np.uint8))
    case = CaseRecord("c", {"flair": VolumeRef(image)}, VolumeRef(mask))
    with pytest.raises(DataError, match=r"seg\.nii\.gz has shape \(8, 9, 10\)"):
        prepare_case(case, ("flair",), PreprocessConfig(skip_first=1, skip_last=1, size=16))


def test_nibabel_not_asked_for_float64(tmp_path: Path) -> None:
    path = save(tmp_path / "i16.nii.gz", (_volume() * 10).astype(np.int16))
    volume = load_volume(VolumeRef(path))
    assert volume.array.dtype == np.float32
    assert np.array_equal(volume.array, np.asarray(nib.load(path).dataobj).astype(np.float32))


def test_invalid_header(tmp_path: Path) -> None:
    raw = bytearray(nib.Nifti1Image(_volume(), np.eye(4)).to_bytes())
    raw[70:72] = (999).to_bytes(2, "little")  # datatype code nibabel does not know
    path = tmp_path / "header.nii.gz"
    path.write_bytes(gzip.compress(bytes(raw)))
    assert "invalid NIfTI header" in _error(VolumeRef(path))


def test_dangling_and_looping_symbolic_links_are_named_as_such(tmp_path: Path) -> None:
    dangling = tmp_path / "dangling.nii.gz"
    dangling.symlink_to(tmp_path / "gone.nii.gz")
    message = _error(VolumeRef(dangling))
    assert "dangling symbolic link" in message
    assert "gone.nii.gz" in message
    loop_a, loop_b = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    assert "symbolic link loop" in _error(VolumeRef(loop_a))
