"""Reading one NIfTI volume with a specific, one-line error for every way it can be bad.

Every failure names the file (and channel) and says what is wrong: the file is missing,
it is not a NIfTI image, it is corrupt or truncated (detected when the header is read
*or* when the voxels are decompressed), it has the wrong number of dimensions, it holds
NaN/Inf voxels, an image volume is all zero, or a label volume holds values that are not
non-negative integers (labels are integers >= 0; 0 is healthy). Voxels are read through
``np.asarray(img.dataobj)`` and kept as float32 so a 240x240x155 volume costs 36 MB,
not 72 MB as ``get_fdata`` would.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from wsad_core.data._missing import missing_file_error
from wsad_core.data.index import VolumeRef
from wsad_core.errors import DataError

__all__ = [
    "AFFINE_TOLERANCE_MM",
    "Header",
    "Volume",
    "check_same_grid",
    "label_counts",
    "lesion_mask",
    "load_volume",
    "read_header",
]

#: Largest difference between two affines' entries still taken as the same grid.
AFFINE_TOLERANCE_MM = 1e-3

#: Largest distance to an integer still read as that label (scaled integer data stored as float).
_LABEL_TOLERANCE = 1e-3

#: Errors nibabel, gzip and zlib raise for damaged files, at load or at decompression time.
_READ_ERRORS: tuple[type[BaseException], ...] = (EOFError, zlib.error, OSError, ValueError, MemoryError)


@dataclass(frozen=True, slots=True, eq=False)
class Volume:
    """One 3-D volume in memory.

    Attributes:
        array: ``(X, Y, Z)`` float32 voxels; for masks 1.0 where any label > 0, else 0.0.
        affine: ``(4, 4)`` float64 voxel-to-world matrix.
        zooms: voxel size in mm along the three axes.
        path: the file it came from.
        channel: the channel read from a 4-D file, else ``None``.
    """

    array: np.ndarray
    affine: np.ndarray
    zooms: tuple[float, float, float]
    path: Path
    channel: int | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(X, Y, Z)``."""
        x, y, z = self.array.shape
        return int(x), int(y), int(z)

    @property
    def name(self) -> str:
        """The file, with ``[channel]`` for multi-channel files (used in messages)."""
        return str(VolumeRef(self.path, self.channel))


@dataclass(frozen=True, slots=True)
class Header:
    """What the header alone says about a volume (no voxels decoded).

    Attributes:
        shape: the 3-D shape of the selected volume.
        zooms: voxel size in mm.
        affine: ``(4, 4)`` float64.
    """

    shape: tuple[int, int, int]
    zooms: tuple[float, float, float]
    affine: np.ndarray


def _open(ref: VolumeRef, *, verify: bool = False) -> Any:
    """The nibabel image for ``ref``.

    Args:
        ref: the volume.
        verify: decompress a ``.gz`` file completely first, so that its CRC is checked:
            nibabel alone stops reading at the last voxel and turns a damaged middle into
            silent garbage.
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError
    from nibabel.spatialimages import HeaderDataError, ImageDataError
    from nibabel.wrapstruct import WrapStructError

    path = Path(ref.path)
    if not path.exists():
        raise missing_file_error(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a NIfTI file (.nii or .nii.gz)")
    try:
        if verify and path.name.lower().endswith(".gz"):
            return _from_bytes(path, gzip.decompress(path.read_bytes()))
        return nib.load(path)
    except ImageFileError as error:
        raise DataError(
            f"{path}: not a NIfTI image ({_first_line(error)})", hint="the file may be corrupt or of another format"
        ) from None
    except (HeaderDataError, ImageDataError, WrapStructError) as error:  # WrapStructError: header cut short
        raise DataError(
            f"{path}: invalid NIfTI header ({_first_line(error)})", hint="repair or re-export the file"
        ) from None
    except _READ_ERRORS as error:
        raise DataError(
            f"{path}: corrupt or truncated file ({type(error).__name__}: {_first_line(error)})",
            hint="download or copy the file again",
        ) from None


def _from_bytes(path: Path, raw: bytes) -> Any:
    """A NIfTI-1 or NIfTI-2 image parsed from decompressed bytes."""
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    # sizeof_hdr (first int32, either byte order) tells the two NIfTI versions apart.
    sizes = {int.from_bytes(raw[:4], "little"), int.from_bytes(raw[:4], "big")} if len(raw) >= 4 else set()
    if 348 in sizes:
        return nib.Nifti1Image.from_bytes(raw)
    if 540 in sizes:
        return nib.Nifti2Image.from_bytes(raw)
    raise ImageFileError(f"{path.name} holds no NIfTI-1 or NIfTI-2 header")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _selected_shape(ref: VolumeRef, shape: tuple[int, ...]) -> tuple[tuple[int, int, int], int | None]:
    """The 3-D shape that ``ref`` selects and the channel to read (``None``: whole array)."""
    name = str(ref)
    # Trailing singleton axes (e.g. (240, 240, 155, 1)) carry no channel information.
    core = tuple(shape)
    while len(core) > 3 and core[-1] == 1:
        core = core[:-1]
    if len(core) < 3:
        raise DataError(f"{name}: {len(core)}-D image of shape {shape}, expected a 3-D volume")
    if len(core) > 4:
        raise DataError(f"{name}: {len(core)}-D image of shape {shape}, expected a 3-D volume")
    if len(core) == 4:
        if ref.channel is None:
            raise DataError(
                f"{name}: 4-D image of shape {shape} where a 3-D volume is expected",
                hint="multi-channel files need an adapter that selects a channel (e.g. --adapter msd-brain)",
            )
        if not 0 <= ref.channel < core[3]:
            raise DataError(f"{name}: channel {ref.channel} out of range, the file has {core[3]} channels")
        return (core[0], core[1], core[2]), ref.channel
    if ref.channel is not None and ref.channel != 0:
        raise DataError(f"{name}: channel {ref.channel} requested but the file is a single 3-D volume")
    return (core[0], core[1], core[2]), None


def read_header(ref: VolumeRef) -> Header:
    """Shape, voxel size and affine of ``ref`` from its header, without decoding voxels.

    Args:
        ref: the volume (and channel) to describe.

    Returns:
        The header facts.

    Raises:
        DataError: the file is missing, not a NIfTI image, or not 3-D (after channel selection).
    """
    img = _open(ref)
    shape, _ = _selected_shape(ref, tuple(int(s) for s in img.shape))
    return Header(shape=shape, zooms=_zooms(img), affine=_affine(ref, img))


def _zooms(img: Any) -> tuple[float, float, float]:
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    return zooms[0], zooms[1], zooms[2]


def _affine(ref: VolumeRef, img: Any) -> np.ndarray:
    affine = np.asarray(img.affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise DataError(f"{ref}: the header's affine is missing or not finite", hint="repair the NIfTI header")
    return affine


def _examples(values: np.ndarray, limit: int = 5) -> str:
    found = np.unique(values)
    shown = ", ".join(f"{v:g}" for v in found[:limit])
    return shown + (f", … ({found.size} distinct)" if found.size > limit else "")


def _check_labels(ref: VolumeRef, data: np.ndarray) -> np.ndarray:
    """``data`` as integer labels, or a DataError naming the file and the values that are not labels."""
    labels = np.rint(data)
    fractional = np.abs(data - labels) > _LABEL_TOLERANCE
    if fractional.any():
        raise DataError(
            f"{ref}: {int(fractional.sum())} voxels hold non-integer label values ({_examples(data[fractional])})",
            hint="labels must be non-negative integers (0 healthy); threshold a probability map into a mask first",
        )
    negative = labels < 0
    if negative.any():
        raise DataError(
            f"{ref}: {int(negative.sum())} voxels hold negative label values ({_examples(labels[negative])})",
            hint="labels must be non-negative integers (0 healthy); fix the file's labels or its scaling",
        )
    return labels.astype(np.int32)


def lesion_mask(labels: np.ndarray, lesion_labels: tuple[int, ...] | None = None) -> np.ndarray:
    """Bool lesion mask of integer ``labels``: the ``lesion_labels`` values, by default every label > 0."""
    return labels > 0 if lesion_labels is None else np.isin(labels, lesion_labels)


def label_counts(labels: np.ndarray) -> dict[int, int]:
    """Voxels per label value of an integer label volume (from :func:`load_volume` with ``role="labels"``)."""
    counts = np.bincount(labels.ravel().astype(np.int64))
    return {int(value): int(count) for value, count in enumerate(counts) if count}


def load_volume(
    ref: VolumeRef,
    *,
    role: Literal["image", "mask", "labels"] = "image",
    lesion_labels: tuple[int, ...] | None = None,
) -> Volume:
    """Read one 3-D volume as float32 and check it.

    Args:
        ref: the file and, for 4-D files, the channel.
        role: ``"image"`` (must not be all zero), ``"mask"`` (lesion labels become 1.0,
            everything else 0.0; an all-zero mask is a healthy case) or ``"labels"`` (the
            checked integer labels themselves, as float32). Masks and labels must hold
            non-negative integers.
        lesion_labels: for ``"mask"``, the label values that are lesion; default every label > 0.

    Returns:
        The checked volume.

    Raises:
        DataError: naming the file, when it is missing, not a NIfTI image, corrupt or
            truncated, 4-D without a channel (or the channel is out of range), holds
            NaN/Inf voxels, is an all-zero image, or is a mask with negative or
            fractional values.
    """
    if role not in ("image", "mask", "labels"):
        raise ValueError(f"role must be 'image', 'mask' or 'labels', got {role!r}")
    img = _open(ref, verify=True)
    shape, channel = _selected_shape(ref, tuple(int(s) for s in img.shape))
    try:
        proxy = img.dataobj
        if channel is not None:
            data = np.asarray(proxy[..., channel], dtype=np.float32)
        else:
            data = np.asarray(proxy, dtype=np.float32)
    except _READ_ERRORS as error:
        raise DataError(
            f"{ref}: corrupt or truncated file ({type(error).__name__}: {_first_line(error)})",
            hint="download or copy the file again",
        ) from None
    data = data.reshape(shape)
    finite = np.isfinite(data)
    if not finite.all():
        n_nan = int(np.isnan(data).sum())
        n_inf = int(data.size - finite.sum()) - n_nan
        raise DataError(
            f"{ref}: {n_nan} NaN and {n_inf} Inf voxels", hint="repair or re-export the volume without invalid voxels"
        )
    if role in ("mask", "labels"):
        labels = _check_labels(ref, data)
        kept = labels if role == "labels" else lesion_mask(labels, lesion_labels)
        data = kept.astype(np.float32)
    elif not data.any():
        raise DataError(f"{ref}: image volume is all zero", hint="the file holds no image data; re-export it")
    return Volume(array=data, affine=_affine(ref, img), zooms=_zooms(img), path=Path(ref.path), channel=ref.channel)


def check_same_grid(a: Volume, b: Volume) -> None:
    """Raise unless ``a`` and ``b`` share one voxel grid (shape and affine).

    Args:
        a: the reference volume, usually the first image of the case.
        b: a volume that must be on the same grid.

    Raises:
        DataError: naming both files, on a shape mismatch or affines differing by more
            than :data:`AFFINE_TOLERANCE_MM`.
    """
    if a.shape != b.shape:
        raise DataError(
            f"{b.name} has shape {b.shape} but {a.name} has shape {a.shape}",
            hint="all volumes of a case must share one voxel grid; resample them first",
        )
    difference = float(np.abs(a.affine - b.affine).max())
    if difference > AFFINE_TOLERANCE_MM:
        raise DataError(
            f"{b.name} and {a.name} have different affines (largest difference {difference:.4g})",
            hint="all volumes of a case must share one voxel grid; resample or fix the headers",
        )
