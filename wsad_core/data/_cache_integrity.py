"""Integrity of slice cache entries: a checksum per file, written with it, and value checks.

An entry is trusted only when every array file has the size and XXH3-128 digest recorded in its
``meta.json`` (written in the same atomic rename as the arrays) and the dtype and shape recorded
there. Values are checked by the same rules as NIfTI input before an entry is written
(:func:`check_values`); a load that verifies the digests therefore reads exactly those checked
bytes, and re-checks only what is free (shapes, dtypes, index ranges). Files are hashed as
streams (``hashlib.file_digest``), not through the memory map, so verification costs about a page-cache read
(``benchmarks/bench_slice_cache.py`` measures it against preparing the cases again).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

__all__ = ["CacheEntryError", "check_structure", "check_values", "file_records", "load_verified"]

#: dtype of each array of an entry, as ``prepare_case`` writes it.
_DTYPES = {
    "images": np.float32,
    "brain_masks": np.bool_,
    "native_masks": np.bool_,
    "native_brain": np.bool_,
    "lesion_pixels": np.int32,
    "slice_indices": np.int32,
    "affine": np.float64,
    "crop_boxes": np.int32,
}


class CacheEntryError(Exception):
    """An entry that must not be trusted (or written); the message says which file and why."""


def _file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, xxhash.xxh3_128).hexdigest()


def file_records(folder: Path, arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """What ``meta.json`` records of each written array file: dtype, shape, size and digest."""
    records = {}
    for name, array in arrays.items():
        path = folder / f"{name}.npy"
        records[name] = {
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "bytes": path.stat().st_size,
            "xxh3_128": _file_digest(path),
        }
    return records


def load_verified(folder: Path, records: dict[str, dict[str, Any]], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays of an entry, memory-mapped read-only, each file checked against its record.

    Raises:
        CacheEntryError: a record or file is missing, or a file's size, digest, dtype or shape differs.
    """
    arrays = {}
    for name in names:
        record = records.get(name)
        if not isinstance(record, dict):
            raise CacheEntryError(f"meta.json records no checksum for {name}.npy (written by an older wsad?)")
        path = folder / f"{name}.npy"
        try:
            size = path.stat().st_size
            if size != record.get("bytes"):
                raise CacheEntryError(f"{name}.npy has {size} bytes, meta.json says {record.get('bytes')}")
            if _file_digest(path) != record.get("xxh3_128"):
                raise CacheEntryError(f"{name}.npy does not match its checksum (the file was changed or damaged)")
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise CacheEntryError(f"{name}.npy cannot be read ({type(error).__name__}: {error})") from None
        if array.dtype.str != record.get("dtype") or list(array.shape) != record.get("shape"):
            raise CacheEntryError(
                f"{name}.npy is {array.dtype.str} {list(array.shape)}, meta.json says "
                f"{record.get('dtype')} {record.get('shape')}"
            )
        arrays[name] = array
    return arrays


def check_structure(arrays: dict[str, np.ndarray], native_shape: tuple[int, int, int]) -> None:
    """The free checks, made on every load: dtypes, shapes and index ranges.

    Raises:
        CacheEntryError: naming the array and the rule it breaks.
    """
    for name, dtype in _DTYPES.items():
        if name in arrays and arrays[name].dtype != dtype:
            raise CacheEntryError(f"{name}.npy has dtype {arrays[name].dtype}, expected {np.dtype(dtype)}")
    images = arrays["images"]
    if images.ndim != 4:
        raise CacheEntryError(f"images.npy has shape {images.shape}, expected (slices, channels, size, size)")
    depth = native_shape[2]
    indices = arrays["slice_indices"]
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= depth):
        raise CacheEntryError(f"slice_indices.npy points outside the volume's {depth} slices")
    affine = arrays["affine"]
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise CacheEntryError(f"affine.npy is not a finite 4x4 matrix (shape {affine.shape})")
    boxes = arrays["crop_boxes"]
    if boxes.shape != (len(indices), 4):
        raise CacheEntryError(f"crop_boxes.npy has shape {boxes.shape}, expected ({len(indices)}, 4)")


def check_values(arrays: dict[str, np.ndarray], native_shape: tuple[int, int, int]) -> None:
    """Every rule a prepared case obeys, checked before it is written (and so, by checksum, on load).

    Raises:
        CacheEntryError: naming the array and the rule it breaks.
    """
    check_structure(arrays, native_shape)
    images = arrays["images"]
    if images.size:
        low, high = float(images.min()), float(images.max())
        if not (np.isfinite(low) and np.isfinite(high)):
            raise CacheEntryError("images.npy holds NaN or Inf values")
        if low < 0.0 or high > 1.0:
            raise CacheEntryError(f"images.npy holds values in [{low:g}, {high:g}], expected [0, 1]")
    counted = arrays["native_masks"].sum(axis=(1, 2), dtype=np.int64)
    if not np.array_equal(counted, arrays["lesion_pixels"]):
        raise CacheEntryError("lesion_pixels.npy disagrees with native_masks.npy")
