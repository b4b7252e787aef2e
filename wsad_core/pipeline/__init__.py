"""Running pipelines: plan (checks), data, stages (cached), evaluation and outputs."""

from __future__ import annotations

from wsad_core.pipeline.external import evaluate_prediction_dir
from wsad_core.pipeline.plan import PipelinePlan, PlannedStage, plan_pipeline
from wsad_core.pipeline.runner import default_run_dir, run_pipeline

__all__ = [
    "PipelinePlan",
    "PlannedStage",
    "default_run_dir",
    "evaluate_prediction_dir",
    "plan_pipeline",
    "run_pipeline",
]
