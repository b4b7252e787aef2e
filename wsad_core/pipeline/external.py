"""Score anomaly maps made outside wsad (``wsad eval``) with the same protocols as ``wsad run``.

Maps are NIfTI volumes named ``<case_id>.nii.gz`` in each case's own grid. A missing map
counts as all-zero (the MOOD challenge rule), so a failure cannot raise the score.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wsad_core.data.assemble import assemble
from wsad_core.data.cache import prepare_cases
from wsad_core.errors import ConfigError, DataError
from wsad_core.pipeline.evaluate import Evaluation, evaluate_maps
from wsad_core.pipeline.plan import PipelinePlan
from wsad_core.results import read_map_volume
from wsad_core.types import ScoreMaps

if TYPE_CHECKING:
    from wsad_core.context import ProgressReporter
    from wsad_core.data.config import PreprocessConfig
    from wsad_core.data.index import DatasetIndex
    from wsad_core.pipeline.stages import ContextFactory
    from wsad_core.plugins import PluginHost

__all__ = ["evaluate_prediction_dir"]

log = logging.getLogger("wsad.eval")


def _read_case_maps(pred_dir: Path, case_id: str, native_shape: tuple[int, ...], slices: np.ndarray) -> np.ndarray:
    path = pred_dir / f"{case_id}.nii.gz"
    if not path.exists():
        path = pred_dir / f"{case_id}.nii"
    volume, _ = read_map_volume(path)
    if volume.shape != tuple(native_shape):
        raise DataError(
            f"{path}: map shape {volume.shape} differs from the case's image shape {tuple(native_shape)}",
            hint="write maps in the input's grid (same shape and affine as the image)",
        )
    if not np.isfinite(volume).all():
        raise DataError(f"{path}: map contains NaN or Inf values")
    return np.moveaxis(volume[:, :, slices], 2, 0).astype(np.float32)


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
) -> tuple[Evaluation, list[str]]:
    """Rows of every planned protocol and rule for the maps in ``pred_dir``; also returns missing case ids.

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
    prepared = prepare_cases(index, modalities, preprocess, None, progress)
    reference = assemble(prepared)
    maps, missing = [], []
    for case in prepared:
        if not (pred_dir / f"{case.case_id}.nii.gz").exists() and not (pred_dir / f"{case.case_id}.nii").exists():
            missing.append(case.case_id)
            maps.append(np.zeros((len(case.slice_indices), *case.native_shape[:2]), np.float32))
            continue
        maps.append(_read_case_maps(pred_dir, case.case_id, case.native_shape, case.slice_indices))
    if missing:
        log.warning("%d case(s) have no map and count as all-zero: %s", len(missing), ", ".join(missing[:10]))
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
    return evaluation, missing
