"""Run generator → refiner → segmenter, each stage cached in the run directory.

A stage whose output is stored under the same key (its plugin, version, options, seed
and upstream keys) is loaded instead of recomputed, so ``--resume`` skips finished
work; plugins resume their own training from checkpoints in their ``work_dir``.

Generators and refiners only see the *anomalous* training and validation slices:
healthy-labelled slices get empty pseudo-masks, since their image-level label already
says they contain no lesion.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wsad_core import distributed
from wsad_core.deviations import Deviation, as_deviations
from wsad_core.errors import ContractError
from wsad_core.pipeline._plugin_calls import plugin_call
from wsad_core.pipeline.selection import GT_VAL
from wsad_core.types import Label, MaskSet, ScoreMaps

if TYPE_CHECKING:
    from wsad_core.context import BuildContext
    from wsad_core.pipeline.data_stage import RunData
    from wsad_core.pipeline.plan import PipelinePlan, PlannedStage
    from wsad_core.pipeline.storage import StageStorage
    from wsad_core.plugins import PluginHost
    from wsad_core.types import SliceSet

__all__ = ["StageOutputs", "run_stages"]

log = logging.getLogger("wsad.pipeline")
ContextFactory = Callable[["PlannedStage", "str | None"], "BuildContext"]


@dataclass(slots=True)
class StageOutputs:
    """What the stages produced.

    Attributes:
        train_masks: pseudo-masks aligned with ``RunData.train_view`` (``None`` without a generator).
        validation_masks: aligned with ``RunData.validation_view``.
        validation_maps: final maps of all validation slices (labels hidden), if any.
        test_maps: final maps of all test slices (labels hidden).
        overlay_masks: pseudo-masks of the test slices chosen for overlays, in their order.
        notes: caveats reported by the plugins (e.g. missing pretrained weights).
        deviations: how the plugins depart from their published methods, with their source.
        selection: how each trained stage chose its checkpoint, per role (``checkpoint_selection``).
        provenance: facts reported by the plugins, per role.
        trained: role → the file its trained state was saved to (stages whose spec has a ``loader``).
    """

    train_masks: MaskSet | None = None
    validation_masks: MaskSet | None = None
    validation_maps: ScoreMaps | None = None
    test_maps: ScoreMaps | None = None
    overlay_masks: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    deviations: list[Deviation] = field(default_factory=list)
    selection: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    trained: dict[str, Path] = field(default_factory=dict)


#: The file, in a stage's keyed work directory, holding its trained state (``save(path)``).
TRAINED_FILE = "trained.state"


def _save_trained(stage: PlannedStage, obj: Any, store: StageStorage, key: str) -> None:
    """Keep a trained stage's state beside its outputs, when its plugin can restore it."""
    if stage.spec.loader is None:
        return
    save = getattr(obj, "save", None)
    if not callable(save):
        raise ContractError(
            f"{stage.role} {stage.name!r} declares a loader but its object has no save(path) method",
            hint="a plugin with spec.loader must implement save(path) -> Path on the trained object",
        )
    with plugin_call(stage.role, stage.name, "save"):
        save(store.work_dir(stage.role, key) / TRAINED_FILE)


def _trained_file(stage: PlannedStage, store: StageStorage, key: str) -> Path | None:
    path = store.work_dir(stage.role, key) / TRAINED_FILE
    return path if stage.spec.loader is not None and path.is_file() else None


def _validation_masks_needed(plan: PipelinePlan, keep: bool) -> bool:
    """Whether anything reads the validation patients' pseudo-masks: the segmenter's ``fit``, or ``keep``."""
    stage = plan.segmenter
    if stage is None:
        return True  # no segmenter: the masks are the result, and the diagnostics score them
    spec = stage.spec
    if not spec.trains_on_pseudo_masks:  # type: ignore[attr-defined]
        return False
    return keep or spec.reads_validation_masks(stage.options)  # type: ignore[attr-defined]


def _mask_targets(
    plan: PipelinePlan, data: RunData, overlay_positions: list[int], *, keep_validation: bool = False
) -> dict[str, SliceSet]:
    """The slice sets a mask stage processes, by name; test and final slices have labels hidden."""
    targets: dict[str, SliceSet] = {"train": data.train_view.select(data.train_view.where_label(Label.ANOMALOUS))}
    if data.validation_view is not None and _validation_masks_needed(plan, keep_validation):
        view = data.validation_view
        targets["validation"] = view.select(view.where_label(Label.ANOMALOUS))
    test_hidden = data.test.slices.with_labels_hidden()
    if overlay_positions:
        targets["overlay"] = test_hidden.select(overlay_positions)
    prompted = plan.segmenter is not None and plan.segmenter.spec.prompted_by_pseudo_masks  # type: ignore[attr-defined]
    if plan.segmenter is None or prompted:  # the masks are the final maps, or prompt the segmenter
        targets["final_test"] = test_hidden
        if data.validation is not None:
            targets["final_validation"] = data.validation.slices.with_labels_hidden()
    return {name: slices for name, slices in targets.items() if len(slices)}


def _expand(view: SliceSet | None, anomalous: MaskSet | None, source: str) -> MaskSet | None:
    """Masks for every slice of ``view``: ``anomalous`` on anomalous slices, empty elsewhere."""
    if view is None:
        return None
    shape = (len(view), *view.spatial_shape)
    upstream = None
    if anomalous is not None and anomalous.upstream is not None:
        upstream = _expand(view, anomalous.upstream, anomalous.upstream.source)
    full = MaskSet(np.zeros(shape, np.float32), np.zeros(shape, bool), source, upstream)
    if anomalous is not None:
        positions = view.where_label(Label.ANOMALOUS)
        full.soft[positions] = anomalous.soft
        full.masks[positions] = anomalous.masks
    return full


def _absorb(stage: PlannedStage, outputs: StageOutputs, meta: dict[str, Any]) -> None:
    outputs.notes.extend(f"{stage.role} {stage.name}: {note}" for note in meta.get("notes", []))
    outputs.deviations.extend(as_deviations(meta.get("deviations", ()), source=f"{stage.role} {stage.name}"))
    if meta.get("selection"):
        outputs.selection[stage.role] = str(meta["selection"])
    if meta.get("validation_labels_used"):
        said = outputs.selection.get(stage.role, "")
        outputs.selection[stage.role] = said if said.startswith("gt-val") else f"{GT_VAL} [{said or 'plugin'}]"
        outputs.notes.append(
            f"{stage.role} {stage.name}: chose its checkpoint on the validation patients' pixel labels"
        )
    if meta.get("provenance"):
        outputs.provenance[stage.role] = meta["provenance"]


def _plugin_meta(obj: object, stage: PlannedStage, **extra: Any) -> dict[str, Any]:
    source = f"{stage.role} {stage.name}"
    selection = getattr(obj, "checkpoint_selection", None)
    return {
        "plugin": stage.describe(),
        "notes": [str(n) for n in getattr(obj, "notes", ()) or ()],
        "deviations": [d.to_dict() for d in as_deviations(getattr(obj, "deviations", None), source=source)],
        "selection": None if selection is None else str(selection),
        "provenance": dict(getattr(obj, "provenance", {}) or {}),
        **extra,
    }


def _run_mask_stage(
    stage: PlannedStage,
    obj: Any,
    targets: dict[str, SliceSet],
    upstream: dict[str, MaskSet],
    data: RunData,
) -> dict[str, MaskSet]:
    if stage.role == "generator":
        with plugin_call(stage.role, stage.name, "fit"):
            obj.fit(data.train_view, validation=data.validation_view)
    results = {}
    method = "generate" if stage.role == "generator" else "refine"
    for name, slices in targets.items():
        with plugin_call(stage.role, stage.name, method):
            produced = obj.generate(slices) if stage.role == "generator" else obj.refine(slices, upstream[name])
        if not isinstance(produced, MaskSet):
            raise ContractError(
                f"{stage.role} {stage.name!r} {method}() returned {type(produced).__name__}, expected a MaskSet"
            )
        if len(produced) != len(slices):
            raise ContractError(
                f"{stage.role} {stage.name!r} {method}() returned {len(produced)} masks for {len(slices)} slices"
            )
        if produced.soft.shape[1:] != slices.spatial_shape:
            raise ContractError(
                f"{stage.role} {stage.name!r} {method}() returned masks of size {produced.soft.shape[1:]}, "
                f"slices are {slices.spatial_shape}"
            )
        results[name] = produced
    return results


def run_stages(
    plan: PipelinePlan,
    data: RunData,
    host: PluginHost,
    store: StageStorage,
    make_context: ContextFactory,
    *,
    base_key: str,
    overlay_positions: list[int],
    learning_curves: bool = False,
) -> StageOutputs:
    """Execute (or load from ``store``) every stage of ``plan`` on ``data``.

    Each stage has a *fit key* (plugin, version, options, upstream fit keys: what its
    trained state depends on, which names its work directory) and an *output key* (the fit
    key plus the slice sets it produced masks for). The validation patients' slices get
    pseudo-masks only when something reads them: the segmenter's ``fit`` (its spec's
    ``uses_validation_masks``) or ``learning_curves`` (which plot the Dice against them).
    """
    outputs = StageOutputs()
    world = distributed.current()
    # A shared store keeps every set: its jobs' segmenters may differ in what they read.
    keep_validation = learning_curves or store.shared
    targets = _mask_targets(plan, data, overlay_positions, keep_validation=keep_validation)
    masks: dict[str, MaskSet] = {}
    key, source = base_key, ""
    target_sizes = ",".join(f"{name}={len(slices)}" for name, slices in targets.items())
    for stage in (plan.generator, plan.refiner):
        if stage is None:
            continue
        key, source = stage.key(key), "+".join(filter(None, (source, stage.name)))
        output_key = stage.key(key, target_sizes)
        previous = masks
        computed = False
        if world.is_main and not store.done(stage.role, output_key):
            # Under torchrun, rank 0 runs generators and refiners alone; the others wait, then read.
            with distributed.single_process():
                obj = host.create(stage.role, stage.name, stage.options, make_context(stage, key))
                masks = _run_mask_stage(stage, obj, targets, masks, data)
            if stage.role == "generator":
                _save_trained(stage, obj, store, key)
            meta = _plugin_meta(obj, stage)
            arrays = {f"{n}_{part}": getattr(m, part) for n, m in masks.items() for part in ("soft", "masks")}
            store.save(stage.role, output_key, arrays, meta)
            computed = True
        distributed.barrier()
        if not computed:
            arrays, meta = store.load(stage.role, output_key)
            masks = {n: MaskSet(arrays[f"{n}_soft"], arrays[f"{n}_masks"].astype(bool), source) for n in targets}
            log.info("%s %s: loaded from %s", stage.role, stage.name, store.location(stage.role, output_key))
        if stage.role == "refiner":  # keep the generator's masks beside their refinement
            masks = {n: dataclasses.replace(m, source=source, upstream=previous[n]) for n, m in masks.items()}
        _absorb(stage, outputs, meta)
        trained = _trained_file(stage, store, key)
        if trained is not None:
            outputs.trained[stage.role] = trained

    if masks:
        outputs.train_masks = _expand(data.train_view, masks.get("train"), source)
        if "validation" in masks:  # absent when nothing reads them (``_validation_masks_needed``)
            outputs.validation_masks = _expand(data.validation_view, masks["validation"], source)
        outputs.overlay_masks = masks["overlay"].masks if "overlay" in masks else None
    if plan.segmenter is None:
        outputs.test_maps = ScoreMaps(masks["final_test"].soft, "probability")
        if "final_validation" in masks:
            outputs.validation_maps = ScoreMaps(masks["final_validation"].soft, "probability")
        return outputs

    stage = plan.segmenter
    key = stage.key(key)
    done = store.done("segmenter", key)
    distributed.barrier()  # every rank decided before rank 0 may write the stage
    if done:
        if not world.is_main:
            return outputs
        arrays, meta = store.load("segmenter", key)
        log.info("segmenter %s: loaded from %s", stage.name, store.location("segmenter", key))
    else:
        context = make_context(stage, key)
        obj = host.create("segmenter", stage.name, stage.options, context)
        # Segmenters that only accept pseudo-masks get them when the run has a generator (else None).
        pseudo = outputs.train_masks if stage.spec.trains_on_pseudo_masks else None  # type: ignore[attr-defined]
        with plugin_call("segmenter", stage.name, "fit"):
            obj.fit(  # all ranks train together under torchrun (the core loop shards the batches)
                data.train_view,
                pseudo,
                validation=data.validation_view,
                validation_masks=outputs.validation_masks if pseudo is not None else None,
            )
        distributed.barrier()
        if not world.is_main:
            return outputs
        _save_trained(stage, obj, store, key)
        arrays = {"test": _predict(obj, stage, data.test.slices.with_labels_hidden(), masks.get("final_test"))}
        if data.validation is not None:
            hidden = data.validation.slices.with_labels_hidden()
            arrays["validation"] = _predict(obj, stage, hidden, masks.get("final_validation"))
        # Counted by the core, not declared by the plugin: did the selection look at validation labels?
        used_labels = bool(getattr(context.validation_dice, "calls", 0))
        meta = _plugin_meta(obj, stage, kind=stage.spec.io.output_kind, validation_labels_used=used_labels)
        store.save("segmenter", key, arrays, meta)
    _absorb(stage, outputs, meta)
    trained = _trained_file(stage, store, key)
    if trained is not None:
        outputs.trained["segmenter"] = trained
    outputs.test_maps = ScoreMaps(arrays["test"], meta["kind"])
    if "validation" in arrays:
        outputs.validation_maps = ScoreMaps(arrays["validation"], meta["kind"])
    return outputs


def _predict(obj: Any, stage: PlannedStage, slices: SliceSet, masks: MaskSet | None) -> np.ndarray:
    prompted = stage.spec.prompted_by_pseudo_masks  # type: ignore[attr-defined]
    with plugin_call("segmenter", stage.name, "predict"):
        maps = obj.predict(slices, pseudo_masks=masks) if prompted else obj.predict(slices)
    if not isinstance(maps, ScoreMaps):
        raise ContractError(f"segmenter {stage.name!r} predict() returned {type(maps).__name__}, expected ScoreMaps")
    if maps.scores.shape != (len(slices), *slices.spatial_shape):
        raise ContractError(
            f"segmenter {stage.name!r} predict() returned maps of shape {maps.scores.shape} for {len(slices)} "
            f"slices of {slices.spatial_shape}"
        )
    if maps.kind != stage.spec.io.output_kind:
        declared = stage.spec.io.output_kind
        raise ContractError(f"segmenter {stage.name!r} declares {declared!r} maps, predict() returned {maps.kind!r}")
    return maps.scores
