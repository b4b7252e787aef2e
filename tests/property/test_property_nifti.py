"""Any NIfTI file either loads as a checked volume or fails with a one-line DataError naming it."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import nibabel as nib
import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from wsad_core.data import load_volume
from wsad_core.data.index import VolumeRef
from wsad_core.errors import DataError

_DTYPES = st.sampled_from([np.uint8, np.int16, np.int32, np.float32, np.float64])
_SHAPES = hnp.array_shapes(min_dims=1, max_dims=5, min_side=1, max_side=5)
_FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from([0.0, 1.0, 2.0, 4.0, -1.0, 0.5])
_counter = itertools.count()


@st.composite
def volumes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    dtype = np.dtype(draw(_DTYPES))
    shape = draw(_SHAPES)
    if dtype.kind == "f":
        elements = _FLOATS
    else:
        info = np.iinfo(dtype)
        elements = st.integers(max(info.min, -3), min(info.max, 6))
    data = draw(hnp.arrays(dtype, shape, elements=elements))
    affine = np.eye(4)
    if draw(st.booleans()):
        affine[:3, :3] = np.diag(draw(st.lists(st.floats(0.1, 5.0), min_size=3, max_size=3)))
    if draw(st.integers(0, 9)) == 0:
        affine[0, 3] = np.nan
    return data, affine


def _write(tmp_path: Path, data: np.ndarray, affine: np.ndarray) -> Path | None:
    path = tmp_path / f"v{next(_counter)}.nii.gz"
    try:
        nib.save(nib.Nifti1Image(data, affine), path)
    except Exception:  # nibabel refuses some combinations itself: nothing for wsad to read
        return None
    return path


def _check_outcome(path: Path, role: str) -> None:
    refusal: DataError | None = None
    try:
        volume = load_volume(VolumeRef(path), role=role)  # type: ignore[arg-type]
    except DataError as error:  # anything else escapes and fails the test
        refusal = error
    if refusal is not None:
        assert "\n" not in refusal.message, refusal.message
        assert str(path) in refusal.message
        return
    array = volume.array
    assert array.dtype == np.float32
    assert array.ndim == 3
    assert np.isfinite(array).all()
    assert np.isfinite(volume.affine).all()
    if role == "mask":
        assert set(np.unique(array)) <= {0.0, 1.0}
    elif role == "labels":
        assert (array >= 0).all()
        assert np.array_equal(array, np.round(array))
    else:
        assert array.any()


@given(volume=volumes(), role=st.sampled_from(["image", "mask", "labels"]))
def test_any_array_loads_checked_or_fails_naming_the_file(tmp_path: Path, volume, role: str) -> None:
    data, affine = volume
    path = _write(tmp_path, data, affine)
    assume(path is not None)
    _check_outcome(path, role)


@given(
    volume=volumes(),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), max_size=4),
)
def test_damaged_files_load_checked_or_fail_naming_the_file(tmp_path: Path, volume, cut: float, flips) -> None:
    data, affine = volume
    path = _write(tmp_path, data, affine)
    assume(path is not None)
    raw = bytearray(gzip.decompress(path.read_bytes()))
    for where, bits in flips:
        raw[int(where * (len(raw) - 1))] ^= bits
    raw = raw[: max(1, int(cut * len(raw)))] if cut < 1.0 else raw
    path.write_bytes(gzip.compress(bytes(raw)) if flips or cut < 1.0 else path.read_bytes())
    _check_outcome(path, "image")
