"""The run configuration: what ``wsad run`` resolves from flags, ``-c FILE`` and ``-o key=value``.

Plugin options stay plain mappings here and are validated by each plugin's own options
model once the plugin name is resolved (a closed union could not admit third-party
plugins).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wsad_core.data.config import PreprocessConfig, SplitConfig

__all__ = ["DataConfig", "EvaluationConfig", "OutputConfig", "PipelineConfig", "RunConfig", "StageConfig"]

_FORBID = ConfigDict(extra="forbid", frozen=True)


class StageConfig(BaseModel):
    """One pipeline stage: a plugin name and its options."""

    model_config = _FORBID

    name: str = Field(description="Registered plugin name, e.g. 'zscore'.")
    options: dict[str, Any] = Field(default_factory=dict, description="Plugin options; validated by the plugin.")


class PipelineConfig(BaseModel):
    """generator → optional refiner → segmenter; an unsupervised segmenter may stand alone."""

    model_config = _FORBID

    generator: StageConfig | None = Field(None, description="Pseudo-mask generator (weak labels → masks).")
    refiner: StageConfig | None = Field(None, description="Optional refiner of the pseudo-masks.")
    segmenter: StageConfig | None = Field(
        None, description="Segmenter; without one, the (refined) pseudo-masks' soft maps are evaluated."
    )

    @model_validator(mode="after")
    def _check_stages(self) -> PipelineConfig:
        if self.generator is None and self.segmenter is None:
            raise ValueError("a pipeline needs a generator, a segmenter, or both")
        if self.refiner is not None and self.generator is None:
            raise ValueError("a refiner needs a generator whose pseudo-masks it refines")
        return self

    def label(self) -> str:
        """``generator+refiner→segmenter`` for tables and directory names."""
        upstream = "+".join(s.name for s in (self.generator, self.refiner) if s is not None)
        if self.segmenter is None:
            return upstream
        return f"{upstream}->{self.segmenter.name}" if upstream else self.segmenter.name


class DataConfig(BaseModel):
    """Which data, which modalities, how they are preprocessed and split."""

    model_config = _FORBID

    source: str = Field("demo", description="'demo' (embedded synthetic data) or a dataset folder.")
    adapter: str | None = Field(None, description="Dataset adapter name; detected from the folder when unset.")
    adapter_options: dict[str, Any] = Field(default_factory=dict, description="Options of the dataset adapter.")
    modalities: tuple[str, ...] = Field(
        ("flair",),
        min_length=1,
        description="Input channels. The paper's Table 1 uses T2; the shared BraTS 2018 cases have no T2.",
    )
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig, description="Slice preprocessing.")
    split: SplitConfig = Field(default_factory=SplitConfig, description="Patient-level split.")
    cache: bool = Field(True, description="Reuse preprocessed slices from the on-disk slice cache.")
    max_cases: int | None = Field(
        None, ge=2, description="Use only the first N cases (sorted by id) — for quick trials, not for results."
    )
    test_source: str | None = Field(
        None,
        description="A second dataset folder whose cases are the test patients (train on `source`, test here: "
        "cross-dataset evaluation); `source` then gives the training and validation patients only.",
    )
    test_adapter: str | None = Field(None, description="Adapter of test_source; detected from the folder when unset.")
    test_adapter_options: dict[str, Any] = Field(default_factory=dict, description="Options of test_source's adapter.")

    @model_validator(mode="after")
    def _check_test_source(self) -> DataConfig:
        if self.test_source is not None and (self.split.test is not None or self.split.folds is not None):
            raise ValueError("with test_source, the test patients are its cases: drop split.test and split.folds")
        return self


class EvaluationConfig(BaseModel):
    """Protocols and threshold rules; every output row names both."""

    model_config = _FORBID

    protocols: tuple[str, ...] = Field(
        ("per-slice", "pooled", "per-volume", "slice-detection"), min_length=1, description="Evaluator names."
    )
    protocol_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Options per evaluator, e.g. {'per-volume': {'median_size': 5}}."
    )
    threshold_rules: tuple[str, ...] = Field(
        ("fixed:0.5", "val-best", "oracle"),
        min_length=1,
        description="'fixed[:t]', 'val-best' (the threshold maximising each protocol's Dice statistic on the "
        "validation patients) or 'oracle' (the same on the test labels: a ceiling, marked in every output; "
        "'test-best' is an alias).",
    )


class OutputConfig(BaseModel):
    """Where and what to write."""

    model_config = _FORBID

    out_dir: Path | None = Field(None, description="Run directory; default runs/<timestamp>-<pipeline>.")
    overlays: int = Field(8, ge=0, description="Number of PNG overlays of test slices.")
    save_maps: bool = Field(True, description="Write predicted maps as NIfTI in each input's space.")
    learning_curves: bool = Field(
        False,
        description="Let trainable stages report per-epoch validation maps: the core scores them against the "
        "validation patients' ground truth (report only; the plugin never sees the number) and writes "
        "learning_curve.csv/.png. Costs one prediction of the validation slices per epoch.",
    )


class RunConfig(BaseModel):
    """Everything one ``wsad run`` does."""

    model_config = _FORBID

    data: DataConfig = Field(default_factory=DataConfig, description="Dataset, modalities, preprocessing, split.")
    pipeline: PipelineConfig = Field(description="The methods to run.")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig, description="Protocols and thresholds.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="Output directory and artefacts.")
    seed: int = Field(42, description="Seed of every random stream of the methods (the split has its own).")
    device: Literal["auto", "cpu", "cuda"] | str = Field("auto", description="auto, cpu, cuda or cuda:N.")
    deterministic: bool = Field(False, description="Force deterministic torch algorithms (slower on GPU).")

    def fingerprint(self) -> str:
        """sha256 of everything that defines the run's results (not where they are written)."""
        payload = self.model_dump(mode="json", exclude={"output": {"out_dir"}})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
