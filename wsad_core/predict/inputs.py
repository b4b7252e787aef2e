"""What ``wsad predict`` reads: a dataset folder any adapter reads, or NIfTI files given one by one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsad_core.data.adapters._common import NIFTI_SUFFIXES, strip_nifti
from wsad_core.data.index import CaseRecord, DatasetIndex, VolumeRef
from wsad_core.errors import DataError

if TYPE_CHECKING:
    from wsad_core.plugins import PluginHost

__all__ = ["open_inputs"]


def open_inputs(
    inputs: Sequence[str],
    host: PluginHost,
    modalities: tuple[str, ...],
    *,
    adapter: str | None = None,
    adapter_options: Mapping[str, Any] | None = None,
) -> DatasetIndex:
    """The cases to predict.

    One folder: read by ``adapter`` (detected when ``None``), like ``wsad run --data``; ``demo`` is
    the embedded synthetic dataset. NIfTI files: one case per file, named by the file name without
    its suffix, as the run's single modality (a run on several modalities needs a dataset folder).

    Raises:
        DataError: a path does not exist, files and folders are mixed, or several files share a name.
    """
    if not inputs:
        raise DataError("no input given", hint="give a dataset folder, `demo`, or NIfTI files")
    files = [Path(i).expanduser() for i in inputs if i.lower().endswith(NIFTI_SUFFIXES)]
    if not files:
        if len(inputs) > 1:
            raise DataError(
                f"{len(inputs)} inputs given that are not NIfTI files: {', '.join(inputs[:3])}",
                hint="give one dataset folder, or NIfTI files (.nii or .nii.gz)",
            )
        from wsad_core.data import open_dataset

        index = open_dataset(inputs[0], host, adapter=adapter, options=adapter_options)
        index.require_modalities(modalities)
        return index
    if len(files) != len(inputs):
        raise DataError(
            "inputs mix NIfTI files and other paths",
            hint="give either one dataset folder, or NIfTI files only",
        )
    if len(modalities) != 1:
        raise DataError(
            f"the model was trained on {len(modalities)} modalities ({', '.join(modalities)}); single files "
            "cannot say which is which",
            hint="give a dataset folder with every modality instead",
        )
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DataError(f"input file(s) not found: {', '.join(missing[:5])}")
    cases = [CaseRecord(strip_nifti(f.name), {modalities[0]: VolumeRef(f)}) for f in files]
    return DatasetIndex(
        name="files", root=Path(files[0]).parent, cases=tuple(cases), description=f"{len(files)} NIfTI file(s)"
    )
