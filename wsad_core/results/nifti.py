"""Predicted maps as NIfTI volumes in the input's grid (MOOD interchange, ``wsad eval``).

A run predicts on selected axial slices; the volume it writes has the input's shape and
affine, the slice maps at their index ``k`` along axis 2 and zeros elsewhere (MOOD rule: an
unscored voxel counts as 0).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from wsad_core._atomic import atomic_write_bytes
from wsad_core.errors import ContractError, DataError

__all__ = ["read_map_volume", "write_map_volume"]

# Level 1 is nibabel's own default for .nii.gz: ~3x faster than 6 for a few % more bytes.
_GZIP_LEVEL = 1


def write_map_volume(
    path: str | os.PathLike[str],
    maps: np.ndarray,
    slice_indices: Sequence[int] | np.ndarray,
    native_shape: tuple[int, int, int],
    affine: np.ndarray,
    *,
    dtype: type[np.floating] | type[np.integer] = np.float32,
) -> None:
    """Write slice maps as one volume (float32 by default; uint8 for masks) in the input's grid, atomically.

    Args:
        path: Target ``.nii.gz`` (gzip-compressed) or ``.nii`` file.
        maps: ``(S, H0, W0)`` maps in the native in-plane frame.
        slice_indices: ``(S,)`` axial index ``k`` of each map (distinct, ``0 <= k < D``).
        native_shape: ``(H0, W0, D)`` of the input volume.
        affine: ``(4, 4)`` voxel-to-world matrix of the input volume.
        dtype: voxel type of the file.

    Raises:
        ContractError: Shapes disagree, an index is out of range or repeated, or maps are not finite.
    """
    maps = np.asarray(maps)
    indices = np.asarray(slice_indices, dtype=np.int64).reshape(-1)
    affine = np.asarray(affine, dtype=np.float64)
    height, width, depth = (int(d) for d in native_shape)
    where = f"write_map_volume({Path(path).name})"
    if maps.ndim != 3 or maps.shape[1:] != (height, width):
        raise ContractError(f"{where}: maps have shape {maps.shape}, expected (S, {height}, {width})")
    if indices.shape != (maps.shape[0],):
        raise ContractError(f"{where}: {indices.size} slice indices for {maps.shape[0]} maps")
    if indices.size and (indices.min() < 0 or indices.max() >= depth):
        raise ContractError(f"{where}: slice indices must lie in [0, {depth}), got {indices.min()}..{indices.max()}")
    if np.unique(indices).size != indices.size:
        raise ContractError(f"{where}: slice indices repeat")
    if affine.shape != (4, 4):
        raise ContractError(f"{where}: affine must be 4x4, got {affine.shape}")
    if not np.isfinite(maps).all():
        raise ContractError(f"{where}: maps contain NaN or Inf")

    volume = np.zeros((height, width, depth), dtype=dtype)
    volume[:, :, indices] = np.moveaxis(maps.astype(dtype, copy=False), 0, -1)
    image = nib.Nifti1Image(volume, affine)
    # Both forms coded as "scanner" so that every reader (ITK, FSL, nibabel) uses this affine.
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    data = image.to_bytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0)
    atomic_write_bytes(path, data)


def read_map_volume(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a map volume (``wsad eval``) as float32 with its affine.

    A 4-D file with one volume (``(H, W, D, 1)``) is accepted as 3-D.

    Returns:
        ``(array (H, W, D) float32, affine (4, 4))``.

    Raises:
        DataError: The file is missing, not a NIfTI file, truncated or corrupt, or not 3-D.
    """
    source = Path(path)
    if not source.is_file():
        raise DataError(f"map file {source} does not exist", hint="check --pred-dir and the case ids")
    try:
        image = nib.load(source)
        array = np.asarray(image.get_fdata(dtype=np.float32))
        affine = np.asarray(image.affine, dtype=np.float64)
    except (OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError) as error:
        raise DataError(
            f"map file {source} is not a readable NIfTI volume: {error}",
            hint="re-export it as .nii or .nii.gz (float32, the input's shape and affine)",
        ) from error
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise DataError(f"map file {source} has shape {array.shape}, expected a 3-D volume")
    return array, affine
