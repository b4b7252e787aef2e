"""What a dataset holds, per case, without preprocessing it (``wsad data inspect``).

Reads the headers of every image, the mask, and the images (or the brain-mask file) for the
brain, which is found as preprocessing finds it (:func:`~wsad_core.data.preprocess.case_brain`:
the brain-mask file, else an estimate from every modality of the case, never "≠ 0"). Slice
categories follow shared/docs/evaluation.md §4 under the given
:class:`~wsad_core.data.config.PreprocessConfig`: anomalous (more than ``min_lesion_pixels``
lesion pixels in the native frame), ambiguous (1..min), healthy (no lesion, some brain) and
brain-free. A brain covering more than 80 % of the volume, or none of it, is a warning: it
usually means background counted as brain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsad_core.data._nifti import check_same_grid, label_counts, lesion_mask, load_volume, read_header
from wsad_core.data.assemble import slice_categories
from wsad_core.data.brain import PLAUSIBLE_BRAIN_FRACTION
from wsad_core.data.config import PreprocessConfig
from wsad_core.data.index import MODALITIES, CaseRecord, DatasetIndex

__all__ = ["CaseReport", "DatasetReport", "inspect_dataset"]

_COUNTS = ("anomalous", "healthy", "ambiguous", "brain_free")


@dataclass(frozen=True, slots=True)
class CaseReport:
    """One case as seen by :func:`inspect_dataset`.

    Attributes:
        case_id: the case.
        modalities: its modalities, canonical order.
        shape: ``(X, Y, Z)`` of the first modality.
        spacing: voxel size in mm.
        has_mask: whether a segmentation exists.
        lesion_voxels: lesion voxels in the whole volume (``None`` without a mask).
        kept_slices: axial slices kept by ``skip_first``/``skip_last``.
        anomalous: kept slices with more than ``min_lesion_pixels`` lesion pixels.
        healthy: kept slices without lesion and with brain.
        ambiguous: kept slices with 1..``min_lesion_pixels`` lesion pixels.
        brain_free: kept slices without lesion and without brain.
        subject: ``meta["subject"]`` if the adapter gave one.
        labels: voxels per non-zero label value of the mask (empty without a mask or lesion);
            which of them count as lesion follows ``config.lesion_labels``.
        brain_fraction: share of the volume's voxels that are brain.
        brain_method: ``"mask file"``, ``"background value"`` or ``"noise threshold"``.
    """

    case_id: str
    modalities: tuple[str, ...]
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    has_mask: bool
    lesion_voxels: int | None
    kept_slices: int
    anomalous: int | None
    healthy: int | None
    ambiguous: int | None
    brain_free: int
    subject: str = ""
    labels: tuple[tuple[int, int], ...] = ()
    brain_fraction: float = 0.0
    brain_method: str = ""

    @property
    def warning(self) -> str | None:
        """Why the brain looks wrong, if it does."""
        if self.brain_fraction == 0.0:
            return f"{self.case_id}: no brain found"
        if self.brain_fraction > PLAUSIBLE_BRAIN_FRACTION:
            return (
                f"{self.case_id}: the brain covers {self.brain_fraction:.0%} of the volume ({self.brain_method}): "
                "background is probably counted as brain; give a brain mask "
                "(folder adapter: -o dataset.brain_masks=GLOB)"
            )
        return None


@dataclass(frozen=True, slots=True)
class DatasetReport:
    """Per-case facts and totals of a dataset.

    Attributes:
        name: the adapter.
        root: the dataset folder.
        synthetic: generated data.
        description: the index's description.
        config: the preprocessing settings the counts follow.
        cases: one report per case, in index order.
    """

    name: str
    root: Path
    synthetic: bool
    description: str
    config: PreprocessConfig
    cases: tuple[CaseReport, ...]

    def totals(self) -> dict[str, int]:
        """Sums over cases of slices and lesion voxels (unlabelled cases add 0)."""
        sums = {key: sum(getattr(c, key) or 0 for c in self.cases) for key in (*_COUNTS, "kept_slices")}
        sums["lesion_voxels"] = sum(c.lesion_voxels or 0 for c in self.cases)
        sums["cases"] = len(self.cases)
        sums["labelled_cases"] = sum(c.has_mask for c in self.cases)
        return sums

    @property
    def warnings(self) -> list[str]:
        """One line per case whose brain looks wrong (none, or most of the volume)."""
        return [c.warning for c in self.cases if c.warning]

    def rows(self, *, total: bool = True) -> list[dict[str, Any]]:
        """Plain dicts, one per case (and a final ``case_id="total"`` row), for tables and JSON."""
        rows = [
            {
                "case_id": c.case_id,
                "subject": c.subject,
                "modalities": ",".join(c.modalities),
                "shape": "x".join(str(s) for s in c.shape),
                "spacing": "x".join(f"{s:g}" for s in c.spacing),
                "brain_pct": round(100 * c.brain_fraction, 1),
                "brain_from": c.brain_method,
                "labels": ",".join(str(value) for value, _ in c.labels),
                "lesion_voxels": c.lesion_voxels,
                "kept_slices": c.kept_slices,
                **{key: getattr(c, key) for key in _COUNTS},
            }
            for c in self.cases
        ]
        if total:
            sums = self.totals()
            empty = dict.fromkeys(
                ("subject", "modalities", "shape", "spacing", "brain_pct", "brain_from", "labels"), ""
            )
            counted = {k: sums[k] for k in ("lesion_voxels", "kept_slices", *_COUNTS)}
            rows.append({"case_id": "total", **empty, **counted})
        return rows


def _inspect_case(case: CaseRecord, config: PreprocessConfig) -> CaseReport:
    modalities = tuple(m for m in MODALITIES if m in case.images) + tuple(
        sorted(m for m in case.images if m not in MODALITIES)
    )
    headers = {m: read_header(case.images[m]) for m in modalities}
    first = headers[modalities[0]]
    from wsad_core.data.preprocess import case_brain

    images = [load_volume(case.images[m], role="image") for m in modalities]
    for other in images[1:]:
        check_same_grid(images[0], other)
    image = images[0]
    brain = case_brain(case, images)
    depth = image.shape[2]
    start, stop = config.skip_first, max(config.skip_first, depth - config.skip_last)
    has_brain = brain.mask[:, :, start:stop].any(axis=(0, 1))
    counts: dict[str, int | None] = dict.fromkeys(_COUNTS)
    lesion_voxels = None
    labels: tuple[tuple[int, int], ...] = ()
    if case.mask is not None:
        volume = load_volume(case.mask, role="labels")  # rejects negative and fractional values, naming the file
        check_same_grid(image, volume)
        labels = tuple((v, n) for v, n in label_counts(volume.array.astype("int64")).items() if v)
        lesion = lesion_mask(volume.array, config.lesion_labels)
        lesion_voxels = int(lesion.sum())
        per_slice = lesion[:, :, start:stop].sum(axis=(0, 1))
        categories = slice_categories(per_slice, has_brain, config.min_lesion_pixels)
        counts = {key: int(categories[key].sum()) for key in _COUNTS}
    else:
        counts["brain_free"] = int((~has_brain).sum())
    return CaseReport(
        case_id=case.case_id,
        modalities=modalities,
        shape=first.shape,
        spacing=first.zooms,
        has_mask=case.mask is not None,
        lesion_voxels=lesion_voxels,
        kept_slices=stop - start,
        anomalous=counts["anomalous"],
        healthy=counts["healthy"],
        ambiguous=counts["ambiguous"],
        brain_free=int(counts["brain_free"] or 0),
        subject=str(case.meta.get("subject", "")),
        labels=labels,
        brain_fraction=brain.fraction,
        brain_method=brain.method,
    )


def inspect_dataset(index: DatasetIndex, config: PreprocessConfig | None = None) -> DatasetReport:
    """Per-case shapes, spacing, lesion size and slice categories.

    Args:
        index: the dataset.
        config: preprocessing settings defining kept slices and categories (paper
            defaults when ``None``).

    Returns:
        The report.

    Raises:
        DataError: a file is missing, unreadable or on another grid than its image.
    """
    config = config or PreprocessConfig()
    reports = tuple(_inspect_case(case, config) for case in index.cases)
    return DatasetReport(index.name, index.root, index.synthetic, index.description, config, reports)
