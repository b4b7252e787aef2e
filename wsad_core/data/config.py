"""Preprocessing and split settings; defaults are the RASALoRE paper's (arXiv 2510.08052, §4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["PreprocessConfig", "SplitConfig"]


class PreprocessConfig(BaseModel):
    """How volumes become 2-D training and test slices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skip_first: int = Field(15, ge=0, description="Axial slices dropped at the start of each volume (paper §4: 15).")
    skip_last: int = Field(15, ge=0, description="Axial slices dropped at the end of each volume (paper §4: 15).")
    size: int = Field(256, ge=16, le=1024, description="Slices are resized to size x size (paper §4: 256).")
    normalisation: Literal["volume-percentile", "slice-minmax"] = Field(
        "volume-percentile",
        description="'volume-percentile': per volume, clip brain intensities to the percentiles and scale to "
        "[0, 1]; 'slice-minmax': per-slice min-max as in the official code's PNG export.",
    )
    percentiles: tuple[float, float] = Field(
        (0.5, 99.5), description="Lower and upper brain-intensity percentiles for 'volume-percentile'."
    )
    min_lesion_pixels: int = Field(
        200,
        ge=0,
        description="Slices with more lesion pixels than this (native frame) are the paper's anomalous slices "
        "(official code: 200); slices with 1..min_lesion_pixels are 'ambiguous'.",
    )
    ambiguous_slices: Literal["drop", "anomalous"] = Field(
        "drop",
        description="Training use of slices with 1..min_lesion_pixels lesion pixels: 'drop' (official code) or "
        "label them anomalous (image label = any lesion voxel).",
    )
    brain_free_slices: Literal["exclude", "healthy"] = Field(
        "exclude",
        description="Training use of slices without brain: 'exclude' (default) or 'healthy' (official code).",
    )
    lesion_labels: tuple[int, ...] | None = Field(
        None,
        description="Ground-truth label values that count as lesion, e.g. [1, 4] for BraTS tumour core; default: "
        "every label > 0 (whole tumour). Labels must be non-negative integers; others are an error.",
    )

    @field_validator("lesion_labels")
    @classmethod
    def _check_lesion_labels(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is None:
            return None
        if not value or any(label < 1 for label in value):
            raise ValueError(f"lesion_labels must list labels >= 1 (0 is healthy), got {list(value)}")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _check_percentiles(self) -> PreprocessConfig:
        low, high = self.percentiles
        if not 0.0 <= low < high <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles}")
        return self


class SplitConfig(BaseModel):
    """Patient-level split: sorted ids, shuffled with a seeded generator, never filesystem order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test_fraction: float = Field(
        0.2, gt=0.0, lt=1.0, description="Share of patients held out for testing (paper §4: 20 %)."
    )
    validation_fraction: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="Share of training patients held out for validation (thresholds, model selection); at least "
        "one patient when it is above 0 and two or more training patients exist.",
    )
    min_validation_patients: int = Field(
        2,
        ge=1,
        description="At least this many validation patients when the training part still keeps 3 or more "
        "(validation_fraction > 0): a threshold or checkpoint chosen on one patient is fragile. Set 1 for "
        "the old rule (round(validation_fraction x training patients), at least one).",
    )
    seed: int = Field(42, description="Seed of the patient shuffle (official code: 42).")
    folds: int | None = Field(
        None, ge=2, description="Use k-fold cross-validation by patient instead of test_fraction."
    )
    fold: int = Field(0, ge=0, description="Which fold is the test set when folds is set.")
    test: tuple[str, ...] | None = Field(
        None,
        description="Explicit test patients (case ids), instead of test_fraction or folds; the rest train. "
        "E.g. -o data.split.test=[Brats18_2013_2_1] to test on chosen patients.",
    )
    validation: tuple[str, ...] | None = Field(
        None,
        description="Explicit validation patients (case ids, not in test); default: chosen from the training "
        "patients by validation_fraction as usual.",
    )

    @model_validator(mode="after")
    def _check_fold(self) -> SplitConfig:
        if self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"fold must be below folds ({self.folds}), got {self.fold}")
        if self.test is not None and self.folds is not None:
            raise ValueError("give either folds or an explicit test list, not both")
        if self.test is not None and not self.test:
            raise ValueError("test must name at least one patient")
        if self.test and self.validation and set(self.test) & set(self.validation):
            shared = sorted(set(self.test) & set(self.validation))
            raise ValueError(f"patients both in test and validation: {', '.join(shared[:5])}")
        return self
