"""Score anomaly maps made outside wsad (``wsad eval``) with the same protocols as ``wsad run``.

Maps are NIfTI volumes named ``<stem>.nii.gz`` (or ``.nii``) in each case's own grid, where the stem
is :func:`~wsad_core.results.case_file_stem` of the case id — the id itself for ids made of ASCII
letters, digits and ``._-``, as ``wsad run`` writes its ``maps/``. By default only the cases that have a
map are scored (the others are named in a warning); ``missing="zero"`` scores every case, a missing map
counting as all-zero (the MOOD challenge rule, so that a failure cannot raise the score).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from wsad_core.data.assemble import assemble
from wsad_core.data.cache import prepare_cases
from wsad_core.errors import ConfigError, DataError
from wsad_core.pipeline.evaluate import Evaluation, evaluate_maps
from wsad_core.pipeline.plan import PipelinePlan
from wsad_core.results import case_file_stem, check_case_file_stems, read_map_volume
from wsad_core.types import ScoreMaps

if TYPE_CHECKING:
    from wsad_core.context import ProgressReporter
    from wsad_core.data.config import PreprocessConfig
    from wsad_core.data.index import DatasetIndex
    from wsad_core.pipeline.stages import ContextFactory
    from wsad_core.plugins import PluginHost

__all__ = ["evaluate_prediction_dir"]

log = logging.getLogger("wsad.eval")


def _map_file(pred_dir: Path, case_id: str) -> Path | None:
    stem = case_file_stem(case_id)
    return next((p for p in (pred_dir / f"{stem}.nii.gz", pred_dir / f"{stem}.nii") if p.exists()), None)


def _read_case_maps(path: Path, native_shape: tuple[int, ...], slices: np.ndarray) -> np.ndarray:
    volume, _ = read_map_volume(path)
    if volume.shape != tuple(native_shape):
        raise DataError(
            f"{path}: map shape {volume.shape} differs from the case's image shape {tuple(native_shape)}",
            hint="write maps in the input's grid (same shape and affine as the image)",
        )
    if not np.isfinite(volume).all():
        raise DataError(f"{path}: map contains NaN or Inf values")
    return np.moveaxis(volume[:, :, slices], 2, 0).astype(np.float32)


def _report_unmatched(pred_dir: Path, index: DatasetIndex, missing: list[str]) -> None:
    """Warn about map files that match no case; refuse when no case has a map (nothing, or zeros, to score)."""
    stems = {case_file_stem(case.case_id) for case in index.cases}
    files = sorted(p for p in pred_dir.iterdir() if p.name.endswith((".nii.gz", ".nii")))
    unmatched = [p.name for p in files if p.name.removesuffix(".gz").removesuffix(".nii") not in stems]
    if len(missing) == len(index.cases):
        found = f"; it holds {len(files)} other NIfTI file(s): {', '.join(unmatched[:5])}" if unmatched else ""
        raise DataError(
            f"{pred_dir}: no map for any of the {len(index.cases)} cases (expected e.g. "
            f"{case_file_stem(index.cases[0].case_id)}.nii.gz){found}",
            hint="name each map <case id>.nii.gz as `wsad data inspect` lists the case ids, or give the right folder",
        )
    if unmatched:
        log.warning(
            "%d file(s) in %s match no case and are ignored: %s", len(unmatched), pred_dir, ", ".join(unmatched[:10])
        )


def evaluate_prediction_dir(
    pred_dir: Path,
    index: DatasetIndex,
    *,
    modalities: tuple[str, ...],
    preprocess: PreprocessConfig,
    plan: PipelinePlan,
    host: PluginHost,
    kind: str,
    progress: ProgressReporter,
    make_context: ContextFactory,
    missing: Literal["skip", "zero"] = "skip",
    only: Collection[str] | None = None,
) -> tuple[Evaluation, list[str]]:
    """Rows of every planned protocol and rule for the maps in ``pred_dir``; also returns the ids without a map.

    Args:
        pred_dir: folder of the maps.
        index: the ground-truth dataset.
        modalities: channels the brain is estimated from (unless the dataset has brain-mask files).
        preprocess: slice selection and labels, as in ``wsad run``.
        plan: the evaluators and threshold rules.
        host: the plugins.
        kind: ``"probability"`` or ``"score"`` maps.
        progress: progress reporter.
        make_context: build contexts for the evaluators.
        missing: ``"skip"`` scores the cases that have a map; ``"zero"`` scores every case, a missing map
            counting as all-zero.
        only: score these case ids only (e.g. a run's test patients); ids not in the dataset are an error.

    Raises:
        ConfigError: a threshold rule that needs a validation split (``val-best``).
        DataError: unreadable maps, or maps on another grid than the images.
    """
    if any(rule.name == "val-best" for rule in plan.threshold_rules):
        raise ConfigError(
            "val-best needs validation maps, which wsad eval does not have",
            hint="use --threshold fixed:T or --threshold oracle (chosen on test labels: a ceiling, not a result)",
        )
    if not pred_dir.is_dir():
        raise DataError(f"prediction folder {pred_dir} does not exist")
    index.require_modalities(modalities)
    check_case_file_stems(case.case_id for case in index.cases)
    if only is not None:
        unknown = sorted(set(only) - {case.case_id for case in index.cases})
        if unknown:
            raise DataError(f"{index.root}: no case {', '.join(unknown[:5])} (the cases to score)")
        index = dataclasses.replace(index, cases=tuple(c for c in index.cases if c.case_id in set(only)))
    paths = {case.case_id: _map_file(pred_dir, case.case_id) for case in index.cases}
    without = [case_id for case_id, path in paths.items() if path is None]
    _report_unmatched(pred_dir, index, without)
    if without:
        expected = ", ".join(f"{case_file_stem(i)}.nii.gz" for i in without[:10])
        if missing == "zero":
            log.warning("%d case(s) have no map and count as all-zero: %s", len(without), expected)
        else:
            log.warning("%d case(s) have no map and are not scored: %s", len(without), expected)
            index = dataclasses.replace(index, cases=tuple(c for c in index.cases if c.case_id not in set(without)))
    prepared = prepare_cases(index, modalities, preprocess, None, progress)
    reference = assemble(prepared)
    maps = []
    for case in prepared:
        path = paths[case.case_id]
        if path is None:
            maps.append(np.zeros((len(case.slice_indices), *case.native_shape[:2]), np.float32))
            continue
        maps.append(_read_case_maps(path, case.native_shape, case.slice_indices))
    native = np.concatenate(maps)
    evaluation, _ = evaluate_maps(
        plan,
        host,
        test=reference,
        test_maps=ScoreMaps(native, kind),
        validation=None,
        validation_maps=None,
        make_context=make_context,
        maps_are_native=True,
    )
    return evaluation, without
