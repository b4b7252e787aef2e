"""Apply a trained pipeline to new cases, one case at a time, resumable, writing NIfTI maps and masks."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wsad_core._atomic import atomic_write_text
from wsad_core.data.assemble import assemble
from wsad_core.data.cache import prepare_cases
from wsad_core.errors import ContractError, DataError
from wsad_core.pipeline._plugin_calls import plugin_call
from wsad_core.pipeline.evaluate import native_maps
from wsad_core.results import case_file_stem, check_case_file_stems, write_map_volume
from wsad_core.types import MaskSet, ScoreMaps

if TYPE_CHECKING:
    from wsad_core.context import ProgressReporter
    from wsad_core.data.index import DatasetIndex
    from wsad_core.predict.trained import StageObjects, TrainedPipeline
    from wsad_core.types import SliceSet

__all__ = ["PREDICTION_FILE", "Prediction", "predict_cases"]

log = logging.getLogger("wsad.predict")

#: What ran, with which weights and threshold, written beside ``maps/`` and ``masks/``.
PREDICTION_FILE = "prediction.json"


@dataclass(frozen=True, slots=True)
class Prediction:
    """The outcome of :func:`predict_cases`.

    Attributes:
        out_dir: where the maps and masks are.
        written: case ids predicted by this call.
        reused: case ids whose files an earlier, interrupted call had written.
        threshold: the threshold of the binary masks, and ``threshold_rule`` how it was chosen.
    """

    out_dir: Path
    written: tuple[str, ...]
    reused: tuple[str, ...]
    threshold: float
    threshold_rule: str


def _record(trained: TrainedPipeline, index: DatasetIndex, threshold: float, rule: str) -> dict[str, Any]:
    """The facts of ``prediction.json`` that must match for an interrupted call to be continued."""
    return {
        "source": {"kind": trained.kind, "path": str(trained.root.resolve()), **(trained.facts.get("source") or {})},
        "pipeline": trained.config.pipeline.label(),
        "plugins": trained.facts.get("plugins"),
        "trained": {role: entry["sha256"] for role, entry in sorted(trained.trained.items())},
        "preprocessing": trained.config.data.preprocess.model_dump(mode="json"),
        "modalities": list(trained.config.data.modalities),
        "output_kind": trained.plan.output_kind,
        "threshold": threshold,
        "threshold_rule": rule,
        "input": {"adapter": index.name, "root": str(index.root)},
        "deviations": trained.facts.get("deviations") or [],
        "notes": trained.facts.get("notes") or [],
        "provenance": trained.facts.get("provenance") or {},
    }


def predict_cases(
    trained: TrainedPipeline,
    objects: StageObjects,
    index: DatasetIndex,
    out_dir: Path,
    *,
    threshold: float,
    threshold_rule: str,
    progress: ProgressReporter,
) -> Prediction:
    """Maps (``maps/<case>.nii.gz``, float32) and masks (``masks/<case>.nii.gz``, uint8 ``map >= threshold``).

    Each case is written in its own grid and affine as soon as it is done; a case whose two files
    exist is kept, so an interrupted call continues where it stopped. Slices the run's
    preprocessing skips (``skip_first``/``skip_last``) get 0 in both files.

    Raises:
        DataError: ``out_dir`` holds predictions of another model, threshold or preprocessing.
        ContractError: a plugin returned maps of the wrong shape or kind.
    """
    record = _record(trained, index, threshold, threshold_rule)
    _claim(out_dir, record)
    check_case_file_stems(c.case_id for c in index.cases)
    maps_dir, masks_dir = out_dir / "maps", out_dir / "masks"

    def done(case_id: str) -> bool:
        stem = case_file_stem(case_id)
        return (maps_dir / f"{stem}.nii.gz").is_file() and (masks_dir / f"{stem}.nii.gz").is_file()

    reused = tuple(c.case_id for c in index.cases if done(c.case_id))
    todo = [c for c in index.cases if not done(c.case_id)]
    if reused:
        log.info("predict: %d case(s) already written by an earlier call are kept", len(reused))
    config = trained.config.data
    started = time.perf_counter()
    written = []
    with progress.task("predicting", total=len(todo)) as task:
        for record_case in todo:
            # One case at a time: new data may mix grids, and each case's files land as soon as it is done.
            single = _single(index, record_case)
            (case,) = prepare_cases(single, config.modalities, config.preprocess, None, None)
            split = assemble([case])
            scores = _maps(trained, objects, split.slices.with_labels_hidden())
            native = native_maps(scores, split)
            stem = case_file_stem(case.case_id)
            indices = split.slices.slice_indices
            write_map_volume(maps_dir / f"{stem}.nii.gz", native, indices, case.native_shape, case.affine)
            binary = (native >= threshold).astype(np.uint8)
            write_map_volume(
                masks_dir / f"{stem}.nii.gz", binary, indices, case.native_shape, case.affine, dtype=np.uint8
            )
            written.append(case.case_id)
            task.advance()
    record["cases"] = [c.case_id for c in index.cases]
    record["seconds_this_call"] = round(time.perf_counter() - started, 1)
    record["finished"] = True
    atomic_write_text(out_dir / PREDICTION_FILE, json.dumps(record, indent=1, default=str))
    return Prediction(out_dir, tuple(written), reused, threshold, threshold_rule)


_COMPARED = ("source", "trained", "preprocessing", "modalities", "threshold", "pipeline")


def _claim(out_dir: Path, record: dict[str, Any]) -> None:
    """Start or continue predictions in ``out_dir``; refuse to mix another model's files into it."""
    path = out_dir / PREDICTION_FILE
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DataError(f"{path} is unreadable: {error}", hint="choose another --out folder") from None
        changed = [key for key in _COMPARED if previous.get(key) != record.get(key)]
        if changed:
            raise DataError(
                f"{out_dir} holds predictions made with another {', '.join(changed)}",
                hint="choose another --out folder (or delete that one)",
            )
    elif out_dir.exists() and any(out_dir.iterdir()):
        raise DataError(f"{out_dir} exists and is not empty", hint="choose a new --out folder")
    atomic_write_text(path, json.dumps({**record, "finished": False}, indent=1, default=str))


def _single(index: DatasetIndex, case: Any) -> DatasetIndex:
    import dataclasses

    return dataclasses.replace(index, cases=(case,))


def _maps(trained: TrainedPipeline, objects: StageObjects, slices: SliceSet) -> np.ndarray:
    """The final maps of ``slices``: the segmenter's, or the (refined) pseudo-masks' soft maps."""
    plan = trained.plan
    masks: MaskSet | None = None
    if objects.generator is not None:
        name = plan.generator.name  # type: ignore[union-attr]
        with plugin_call("generator", name, "generate"):
            generated = objects.generator.generate(slices)
        masks = _checked_masks(name, "generate", generated, slices)
        if objects.refiner is not None:
            with plugin_call("refiner", plan.refiner.name, "refine"):  # type: ignore[union-attr]
                refined = objects.refiner.refine(slices, masks)
            masks = _checked_masks(plan.refiner.name, "refine", refined, slices)  # type: ignore[union-attr]
    if objects.segmenter is None:
        if masks is None:
            raise ContractError("the pipeline has neither a segmenter nor a generator to predict with")
        return masks.soft
    stage = plan.segmenter
    assert stage is not None
    with plugin_call("segmenter", stage.name, "predict"):
        if stage.spec.prompted_by_pseudo_masks:  # type: ignore[attr-defined]
            maps = objects.segmenter.predict(slices, pseudo_masks=masks)
        else:
            maps = objects.segmenter.predict(slices)
    if not isinstance(maps, ScoreMaps) or maps.scores.shape != (len(slices), *slices.spatial_shape):
        raise ContractError(f"segmenter {stage.name!r} predict() returned maps of the wrong type or shape")
    if maps.kind != stage.spec.io.output_kind:
        raise ContractError(f"segmenter {stage.name!r} declares {stage.spec.io.output_kind!r} maps, got {maps.kind!r}")
    return maps.scores


def _checked_masks(name: str, method: str, produced: Any, slices: SliceSet) -> MaskSet:
    if not isinstance(produced, MaskSet) or produced.soft.shape != (len(slices), *slices.spatial_shape):
        raise ContractError(f"{name!r} {method}() returned masks of the wrong type or shape")
    return produced
