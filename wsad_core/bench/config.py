"""The benchmark configuration: datasets × pipelines × seeds, evaluated alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from wsad_core._names import check_name, folder_clashes
from wsad_core.config import DataConfig, EvaluationConfig, PipelineConfig, StageConfig
from wsad_core.errors import ConfigError
from wsad_core.overrides import load_config_file

__all__ = ["BenchConfig", "BenchDataset", "BenchPipeline", "ExecutorConfig", "load_bench_config"]

_FORBID = ConfigDict(extra="forbid", frozen=True)


class BenchDataset(DataConfig):
    """A dataset of the benchmark (a :class:`DataConfig` with a name)."""

    model_config = _FORBID

    name: str = Field(description="Short name used in tables, e.g. 'brats2018-demo'.")
    paper_dataset: str | None = Field(
        None, description="Paper column shown beside this dataset (BraTS20, BraTS21, BraTS23 or MSD)."
    )
    same_as_paper: bool = Field(
        False,
        description="Set only when this is the paper's own dataset, patient split and preprocessing; otherwise "
        "every row with a paper number carries a 'data' deviation and is marked not comparable.",
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        # The name becomes the folder jobs/<name>/: '..' or '/' would move job folders elsewhere.
        return check_name(name, "dataset name")


class BenchPipeline(BaseModel):
    """One row of the table: a pipeline, or a published number wsad cannot run."""

    model_config = _FORBID

    label: str = Field(description="Row label, e.g. 'RASALoRE' or 'MedSAM + DDPT (box)'.")
    generator: StageConfig | None = Field(None, description="Pseudo-mask generator.")
    refiner: StageConfig | None = Field(None, description="Refiner of the pseudo-masks.")
    segmenter: StageConfig | None = Field(None, description="Segmenter.")
    paper_row: str | None = Field(
        None,
        description="Method name in the paper's Table 1 for the reference column (default: the label; null: no "
        "paper row).",
    )
    paper_table: Literal[1, 14, 15] = Field(
        1,
        description="The paper's table holding paper_row: 1 (main results) or the appendix's 14 (trained on "
        "BraTS20, tested on BraTS21) and 15 (trained on BraTS21, tested on BraTS20), where the diffusion "
        "baselines (DDPM, pDDPM, cDDPM, mDDPM) were retrained on healthy BraTS slices.",
    )
    reference_only: bool = Field(
        False, description="Only the paper's number: the method is not implemented in wsad (the row says so)."
    )

    @model_validator(mode="before")
    @classmethod
    def _default_paper_row(cls, data: Any) -> Any:
        # Unset means "the label"; an explicit null means "no paper row". Resolving it here keeps
        # the meaning when the configuration is written to bench.yaml and read back.
        if isinstance(data, dict) and "paper_row" not in data:
            return {**data, "paper_row": data.get("label")}
        return data

    @model_validator(mode="after")
    def _check(self) -> BenchPipeline:
        check_name(self.label, "label")
        has_stage = any(s is not None for s in (self.generator, self.refiner, self.segmenter))
        if self.reference_only and has_stage:
            raise ValueError(f"{self.label}: a reference_only row has no stages")
        if not self.reference_only:
            PipelineConfig(generator=self.generator, refiner=self.refiner, segmenter=self.segmenter)
        return self

    def paper_method(self) -> str | None:
        """The paper row this pipeline is compared with (``None``: none)."""
        return self.paper_row

    def pipeline(self) -> PipelineConfig:
        """The runnable pipeline."""
        return PipelineConfig(generator=self.generator, refiner=self.refiner, segmenter=self.segmenter)


class ExecutorConfig(BaseModel):
    """Where jobs run. Jobs that share a trained generator (or refiner) run in one task, in order."""

    model_config = _FORBID

    kind: Literal["local", "process", "submitit"] = Field(
        "local", description="'local' (one after the other), 'process' (a pool), 'submitit' (SLURM via submitit)."
    )
    workers: int = Field(1, ge=1, description="Parallel tasks for 'process' (memory per task adds up).")
    submitit: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters for submitit's AutoExecutor.update_parameters (e.g. slurm_partition, "
        "timeout_min, gpus_per_node); cluster='debug' runs in-process for testing.",
    )


class BenchConfig(BaseModel):
    """Everything ``wsad bench`` runs."""

    model_config = _FORBID

    name: str = Field("bench", description="Benchmark name (directory and titles).")
    datasets: tuple[BenchDataset, ...] = Field(min_length=1, description="Datasets, each with its split.")
    pipelines: tuple[BenchPipeline, ...] = Field(min_length=1, description="Rows of the table.")
    seeds: tuple[int, ...] = Field((0,), min_length=1, description="Method seeds; mean ± std over them.")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig, description="Protocols and rules.")
    headline_protocol: str = Field("per-slice", description="Protocol of the paper-style table and plot.")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N.")
    overlays: int = Field(2, ge=0, description="PNG overlays per job.")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, description="Where jobs run.")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        # The name becomes part of the default folder runs/bench-<timestamp>-<name>.
        return check_name(name, "benchmark name")

    @model_validator(mode="after")
    def _unique(self) -> BenchConfig:
        for what, names in (
            ("dataset", [d.name for d in self.datasets]),
            ("pipeline", [p.label for p in self.pipelines]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {what} names: {duplicates}")
            # Job folders are jobs/<slug(dataset)>/<slug(label)>/: two names with one folder would
            # overwrite each other's runs.
            clashes = folder_clashes(names)
            if clashes:
                described = "; ".join(" and ".join(repr(n) for n in group) for group in clashes)
                raise ValueError(
                    f"{what} names {described} would share one job folder (letters, digits and .+- are kept, "
                    "other characters become '_', letter case is ignored): rename one"
                )
        if self.headline_protocol not in self.evaluation.protocols:
            raise ValueError(f"headline_protocol {self.headline_protocol!r} is not among the evaluated protocols")
        return self


def resolve_source(source: str, config_folder: Path) -> str:
    """A dataset path of a benchmark file: relative paths are taken from the file's folder.

    So ``wsad bench some/where/bench.yaml`` finds its data from any working folder. A relative path that
    exists only from the working folder (how benchmark files were read before) is kept as it is, so the
    job settings — and the results they identify — of existing benchmarks do not change. ``demo``,
    ``~`` and ``$VARIABLES`` are expanded first.
    """
    if source == "demo":
        return source
    expanded = os.path.expandvars(os.path.expanduser(source))
    if Path(expanded).is_absolute():
        return expanded
    beside = os.path.normpath(config_folder / expanded)
    if Path(beside).exists() or not Path(expanded).exists():
        return beside
    return expanded


def load_bench_config(path: Path, overrides: dict[str, Any] | None = None) -> BenchConfig:
    """A :class:`BenchConfig` from a YAML, JSON or TOML file.

    Raises:
        ConfigError: naming every invalid field.
    """
    raw = load_config_file(path)
    raw.update(overrides or {})
    for dataset in raw.get("datasets") or []:
        if isinstance(dataset, dict) and isinstance(dataset.get("source"), str):
            dataset["source"] = resolve_source(dataset["source"], Path(path).parent)
    try:
        return BenchConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(config)'}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"invalid benchmark configuration {path}: {problems}") from None
