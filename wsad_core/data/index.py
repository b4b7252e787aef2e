"""What a dataset adapter returns: which files make up which case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wsad_core.errors import DataError

__all__ = ["MODALITIES", "CaseRecord", "DatasetIndex", "VolumeRef"]

#: Canonical modality names; adapters map their file naming onto these.
MODALITIES = ("flair", "t1", "t1ce", "t2")


@dataclass(frozen=True, slots=True)
class VolumeRef:
    """One 3-D volume on disk.

    Attributes:
        path: the NIfTI file.
        channel: index along the 4th axis for multi-channel files (MSD), else ``None``.
    """

    path: Path
    channel: int | None = None

    def __str__(self) -> str:
        return f"{self.path}[{self.channel}]" if self.channel is not None else str(self.path)


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """One patient/volume of a dataset.

    Attributes:
        case_id: unique, stable identifier (used to sort and split).
        images: modality name → volume.
        mask: the lesion segmentation (any label > 0 is lesion), or ``None``.
        meta: free-form facts, e.g. ``{"subject": "Brats18_CBICA_AOO_1"}``.
        brain: a brain mask (voxels > 0 are brain), or ``None``: the brain is then estimated from
            the images (:func:`~wsad_core.data.brain.estimate_brain`).
    """

    case_id: str
    images: Mapping[str, VolumeRef]
    mask: VolumeRef | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    brain: VolumeRef | None = None


@dataclass(frozen=True, slots=True)
class DatasetIndex:
    """The cases of a dataset, sorted by ``case_id``.

    Attributes:
        name: the adapter's name, e.g. ``"brats"``.
        root: the folder the index was built from.
        cases: the cases, sorted by id (never filesystem order).
        synthetic: ``True`` for generated data (results say so).
        description: one line for reports.
    """

    name: str
    root: Path
    cases: tuple[CaseRecord, ...]
    synthetic: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        ids = [case.case_id for case in self.cases]
        if len(set(ids)) != len(ids):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            raise DataError(f"{self.root}: duplicate case ids {duplicates[:5]}")
        object.__setattr__(self, "cases", tuple(sorted(self.cases, key=lambda c: c.case_id)))

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities present in every case, in canonical order."""
        if not self.cases:
            return ()
        common = set.intersection(*(set(case.images) for case in self.cases))
        ordered = [m for m in MODALITIES if m in common]
        return tuple(ordered + sorted(common - set(MODALITIES)))

    def require_modalities(self, wanted: tuple[str, ...]) -> None:
        """Raise :class:`DataError` unless every case has every modality in ``wanted``.

        The message names the cases that lack a modality when others have it, so that one
        incomplete case is not mistaken for a dataset without that modality.
        """
        missing = [m for m in wanted if m not in self.modalities]
        if not missing:
            return
        partial = {m: [c.case_id for c in self.cases if m not in c.images] for m in missing}
        partial = {m: ids for m, ids in partial.items() if len(ids) < len(self.cases)}
        if partial:
            parts = [
                f"{m} is missing from {len(ids)} of {len(self.cases)} cases: {', '.join(ids[:5])}"
                + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
                for m, ids in partial.items()
            ]
            raise DataError(
                f"dataset {self.name!r} at {self.root}: {'; '.join(parts)}",
                hint="add the missing files (check their names against the adapter's naming), or leave those "
                "cases out, or choose a modality every case has",
            )
        raise DataError(
            f"dataset {self.name!r} at {self.root} has no {', '.join(missing)} "
            f"(available: {', '.join(self.modalities) or 'none'})",
            hint="choose one of the available modalities with --modality",
        )

    def case(self, case_id: str) -> CaseRecord:
        """The case called ``case_id``."""
        for case in self.cases:
            if case.case_id == case_id:
                return case
        raise DataError(f"dataset {self.name!r} has no case {case_id!r}")
