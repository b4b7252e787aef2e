"""Benchmarks: every installed method on the same data, split, preprocessing and metrics.

``wsad bench CONFIG`` (or ``--preset rasalore-table1``) expands datasets × pipelines × seeds
into jobs, runs them with shared stages (a generator's pseudo-masks are computed once for all
segmenters that use them), records failed and unavailable jobs as rows, and writes the
paper-style table (Markdown, CSV, LaTeX) with the paper's numbers beside ours, plus plots.
"""

from __future__ import annotations

from wsad_core.bench.config import BenchConfig, BenchDataset, BenchPipeline, ExecutorConfig, load_bench_config
from wsad_core.bench.presets import PRESETS, preset
from wsad_core.bench.runner import BenchOutcome, run_bench

__all__ = [
    "PRESETS",
    "BenchConfig",
    "BenchDataset",
    "BenchOutcome",
    "BenchPipeline",
    "ExecutorConfig",
    "load_bench_config",
    "preset",
    "run_bench",
]
