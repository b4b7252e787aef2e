"""Expand a benchmark into jobs (dataset × pipeline × seed) and group those that share trained stages."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsad_core._names import inside, slug
from wsad_core.bench.config import BenchConfig, BenchDataset, BenchPipeline
from wsad_core.config import OutputConfig, RunConfig
from wsad_core.errors import ConfigError

__all__ = ["Job", "group_jobs", "plan_jobs", "slug"]


@dataclass(frozen=True, slots=True)
class Job:
    """One run of the benchmark.

    Attributes:
        job_id: ``<dataset>/<pipeline>/seed-<seed>`` (``…/fold-<f>/seed-<seed>`` under cross-validation),
            also its directory under ``jobs/``.
        dataset: dataset name.
        pipeline: pipeline label.
        seed: method seed.
        fold: the test fold under patient-level cross-validation (``split.folds``), else ``None``.
        config: the run configuration (``None`` for reference-only rows).
        group: jobs with the same group share a trained generator (and refiner) and run
            one after the other in one task, so the shared stages are computed once.
    """

    job_id: str
    dataset: str
    pipeline: str
    seed: int
    config: RunConfig | None
    group: str
    fold: int | None = None

    def payload(self) -> dict[str, Any]:
        """Plain data for another process."""
        return {
            "job_id": self.job_id,
            "dataset": self.dataset,
            "pipeline": self.pipeline,
            "seed": self.seed,
            "fold": self.fold,
            "config": None if self.config is None else self.config.model_dump(mode="json"),
        }


def _run_config(
    config: BenchConfig, dataset: BenchDataset, pipeline: BenchPipeline, seed: int, fold: int | None, out: Path
) -> RunConfig:
    data = dataset.model_dump(exclude={"name", "paper_dataset", "same_as_paper"})
    if fold is not None:
        data["split"] = {**data["split"], "fold": fold}
    return RunConfig.model_validate(
        {
            "data": data,
            "pipeline": pipeline.pipeline().model_dump(),
            "evaluation": config.evaluation.model_dump(),
            "output": OutputConfig(out_dir=out, overlays=config.overlays).model_dump(),
            "seed": seed,
            "device": config.device,
        }
    )


def _group(dataset: str, seed: int, pipeline: BenchPipeline, fold: int | None = None) -> str:
    upstream = {
        "dataset": dataset,
        "seed": seed,
        "fold": fold,
        "generator": pipeline.generator.model_dump() if pipeline.generator else None,
        "refiner": pipeline.refiner.model_dump() if pipeline.refiner else None,
    }
    if pipeline.generator is None:  # an unsupervised segmenter shares nothing
        upstream["pipeline"] = pipeline.label
    return hashlib.sha256(json.dumps(upstream, sort_keys=True).encode()).hexdigest()[:16]


def _folder(name: str, what: str) -> str:
    try:
        return slug(name)
    except ValueError as error:
        raise ConfigError(f"{what} {error}", hint="use a name that starts with a letter or digit") from None


def plan_jobs(config: BenchConfig, bench_dir: Path) -> list[Job]:
    """Every job of ``config``, in table order (datasets, then pipelines, then folds, then seeds).

    A dataset with ``split.folds = k`` is run k times per pipeline and seed, each fold's patients
    tested once (patient-level cross-validation); a reference-only row needs one job.

    Raises:
        ConfigError: two jobs would share a folder, or a job folder would lie outside
            ``bench_dir/jobs`` (both are caught when the configuration is validated; this is the
            backstop for configurations built without validation).
    """
    jobs = []
    folders: dict[str, Job] = {}
    for dataset in config.datasets:
        folds: list[int | None] = list(range(dataset.split.folds)) if dataset.split.folds else [None]
        for pipeline in config.pipelines:
            for fold in folds if not pipeline.reference_only else [None]:
                for seed in config.seeds:
                    part = "" if fold is None else f"fold-{fold}/"
                    job_id = (
                        f"{_folder(dataset.name, 'dataset')}/{_folder(pipeline.label, 'pipeline')}/{part}seed-{seed}"
                    )
                    job_dir = inside(bench_dir / "jobs", bench_dir / "jobs" / job_id)
                    run = None
                    if not pipeline.reference_only:
                        run = _run_config(config, dataset, pipeline, seed, fold, job_dir)
                    group = _group(dataset.name, seed, pipeline, fold)
                    job = Job(job_id, dataset.name, pipeline.label, seed, run, group, fold)
                    other = folders.setdefault(job_id.casefold(), job)
                    if other is not job:
                        raise ConfigError(
                            f"jobs ({other.dataset!r}, {other.pipeline!r}) and ({job.dataset!r}, {job.pipeline!r}) "
                            f"would share the folder jobs/{job_id}",
                            hint="rename one dataset or pipeline",
                        )
                    jobs.append(job)
    return jobs


def group_jobs(jobs: list[Job]) -> list[list[Job]]:
    """Jobs batched by group, each batch in table order."""
    groups: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        groups[job.group].append(job)
    return list(groups.values())
