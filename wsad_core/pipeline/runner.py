"""``run_pipeline``: one weakly supervised run from configuration to results directory."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsad_core import distributed
from wsad_core._names import slug
from wsad_core.context import BuildContext, SilentProgress
from wsad_core.deviations import describe_deviations
from wsad_core.device import resolve_device, seed_everything
from wsad_core.errors import ContractError
from wsad_core.pipeline.curves import CURVE_FILE, LearningCurve, plot_learning_curve
from wsad_core.pipeline.data_stage import RunData, load_run_data
from wsad_core.pipeline.evaluate import evaluate_maps, evaluate_pseudo_masks
from wsad_core.pipeline.labels import describe_selection, describe_thresholds, run_deviations
from wsad_core.pipeline.outputs import write_maps, write_overlays, write_tables
from wsad_core.pipeline.plan import PipelinePlan, PlannedStage, plan_pipeline
from wsad_core.pipeline.selection import ValidationDice
from wsad_core.pipeline.stages import StageOutputs, run_stages
from wsad_core.pipeline.storage import RunStages, SharedStages, StageStorage
from wsad_core.plugins import with_stage_builder
from wsad_core.results import RunDirectory, capture_environment, choose_overlay_slices
from wsad_core.results.model_files import keep_trained
from wsad_core.types import RunInfo, RunOutcome

if TYPE_CHECKING:
    from wsad_core.config import RunConfig
    from wsad_core.context import ProgressReporter
    from wsad_core.pipeline.evaluate import Evaluation
    from wsad_core.plugins import PluginHost

__all__ = ["default_run_dir", "run_pipeline"]

log = logging.getLogger("wsad.run")


def default_run_dir(config: RunConfig, root: Path = Path("runs")) -> Path:
    """``runs/<UTC timestamp>-<pipeline>``."""
    label = slug(config.pipeline.label().replace("->", "-to-"))
    return root / f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{label}"


@contextmanager
def _log_to(path: Path) -> Iterator[None]:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger("wsad")
    previous = root.level
    root.addHandler(handler)
    root.setLevel(min(previous or logging.INFO, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


def run_pipeline(
    config: RunConfig,
    host: PluginHost,
    *,
    resume: bool = False,
    progress: ProgressReporter | None = None,
    shared_stages: Path | None = None,
) -> RunOutcome:
    """Run ``config`` end to end and write its results directory.

    Args:
        config: the resolved run configuration.
        host: the loaded plugins.
        resume: continue the run in ``config.output.out_dir``, reusing finished stages.
        progress: progress bars; silent by default.
        shared_stages: a directory whose ``stages/`` is shared with other runs (a
            benchmark's), instead of the run directory's own ``stages/``.

    Raises:
        WsadError: for bad configuration, data or plugin output (the run is marked failed).
    """
    progress = progress or SilentProgress()
    plan = plan_pipeline(config, host)
    device = distributed.rank_device(resolve_device(config.device))
    distributed.ensure_initialised(device)
    out_dir = Path(distributed.broadcast(str(config.output.out_dir or default_run_dir(config))))
    if not distributed.current().is_main:
        return _follow(config, plan, host, out_dir, shared_stages, device)
    rundir = RunDirectory.open(out_dir, config_fingerprint=config.fingerprint(), resume=resume)
    try:
        return _run_main(config, plan, host, rundir, device, progress, shared_stages)
    except BaseException as error:
        if rundir.locked:  # it stopped before recording its end (e.g. config.yaml could not be written)
            with suppress(OSError):  # the original error is the one to report
                rundir.fail(error)
        raise
    finally:
        rundir.close()  # marking the run's end released the lock already; this is the backstop


def _run_main(
    config: RunConfig,
    plan: PipelinePlan,
    host: PluginHost,
    rundir: RunDirectory,
    device: str,
    progress: ProgressReporter,
    shared_stages: Path | None,
) -> RunOutcome:
    """Rank 0's part of :func:`run_pipeline`, in the run directory it has opened (and locked)."""
    resolved = {"config": config.model_dump(mode="json"), "resolved": plan.describe(), "device": device}
    rundir.write_config(resolved)
    info = RunInfo(run_id=rundir.run_id, run_dir=str(rundir.root), config=resolved, device=device, seed=config.seed)
    with _log_to(rundir.log_path):
        log.info("run %s: %s on %s (seed %d)", info.run_id, config.pipeline.label(), device, config.seed)
        rundir.mark("running")
        host.run_started(info)
        distributed.barrier()  # the run directory exists: other ranks may attach
        try:
            store = SharedStages(shared_stages) if shared_stages is not None else RunStages(rundir)
            summary = _execute(config, plan, host, rundir, store, device, progress)
        except BaseException as error:
            message = rundir.fail(error)
            log.error("run %s stopped: %s", info.run_id, message)
            host.run_finished(RunOutcome(info, (), error=message))
            raise
        rundir.mark("finished")
        outcome = RunOutcome(info, tuple(summary))
        host.run_finished(outcome)
        log.info("run %s finished: %s", info.run_id, rundir.root)
    return outcome


def _follow(
    config: RunConfig, plan: PipelinePlan, host: PluginHost, out_dir: Path, shared_stages: Path | None, device: str
) -> RunOutcome:
    """A rank other than 0 under torchrun: train the segmenter with the others, write nothing.

    It reads the stages rank 0 stores and leaves evaluation and every file to rank 0.
    """
    distributed.barrier()  # wait until rank 0 has opened the run directory
    rundir = RunDirectory(out_dir, {})
    store = SharedStages(shared_stages) if shared_stages is not None else RunStages(rundir)
    progress = SilentProgress()
    seed_everything(config.seed, deterministic=config.deterministic)
    data = load_run_data(config.data, host, progress)
    positions = choose_overlay_slices(list(data.test.slices.case_ids), data.test.lesion_pixels, config.output.overlays)
    make_context = _context_factory(config, store, device, progress, data, host=host)
    run_stages(
        plan,
        data,
        host,
        store,
        make_context,
        base_key=_base_key(config, data),
        overlay_positions=positions,
        learning_curves=config.output.learning_curves,
    )
    info = RunInfo(run_id=out_dir.name, run_dir=str(out_dir), config={}, device=device, seed=config.seed)
    return RunOutcome(info, ())


def _base_key(config: RunConfig, data: RunData) -> str:
    """What every stage depends on: the data configuration, the split, the seed."""
    payload = {
        "data": config.data.model_dump(mode="json"),
        "split": data.split.sha256,
        "seed": config.seed,
        "deterministic": config.deterministic,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _context_factory(
    config: RunConfig,
    store: StageStorage,
    device: str,
    progress: ProgressReporter,
    data: RunData | None = None,
    curve_dir: Path | None = None,
    *,
    host: PluginHost | None = None,
) -> Callable[[PlannedStage, str | None], BuildContext]:
    def make(stage: PlannedStage, key: str | None = None) -> BuildContext:
        scorer = curve = None
        if stage.role == "segmenter" and data is not None and data.validation is not None:
            positions = data.validation_positions
            if positions is not None and positions.size:
                minimum = config.data.preprocess.min_lesion_pixels
                scorer = ValidationDice(data.validation, positions, minimum)
                if curve_dir is not None and config.output.learning_curves:
                    label = f"{stage.role}/{stage.name}"
                    curve = LearningCurve(curve_dir / CURVE_FILE, data.validation, positions, minimum, label)
        # Keyed work dirs are emptied when the stage's configuration changes, so a plugin
        # never resumes from a checkpoint of another configuration.
        context = BuildContext(
            device=device,
            seed=config.seed,
            work_dir=store.work_dir(stage.role, key),
            amp=device.startswith("cuda"),
            deterministic=config.deterministic,
            progress=progress,
            logger=logging.getLogger(f"wsad.{stage.role}.{stage.name}"),
            preprocessing=config.data.preprocess,
            validation_dice=scorer,
            learning_curve=curve,
        )
        # Stages made of other plugins (SADM's stage I) build them through the same host and settings.
        return context if host is None else with_stage_builder(context, host)

    return make


def _execute(
    config: RunConfig,
    plan: PipelinePlan,
    host: PluginHost,
    rundir: RunDirectory,
    store: StageStorage,
    device: str,
    progress: ProgressReporter,
) -> list[dict[str, Any]]:
    started = time.perf_counter()
    seed_everything(config.seed, deterministic=config.deterministic)
    data = load_run_data(config.data, host, progress)
    rundir.write_split(data.split.to_dict())
    positions = choose_overlay_slices(list(data.test.slices.case_ids), data.test.lesion_pixels, config.output.overlays)
    make_context = _context_factory(config, store, device, progress, data, rundir.root, host=host)
    base_key = _base_key(config, data)
    outputs = run_stages(
        plan,
        data,
        host,
        store,
        make_context,
        base_key=base_key,
        overlay_positions=positions,
        learning_curves=config.output.learning_curves,
    )
    if outputs.test_maps is None:
        raise ContractError("the pipeline produced no test maps")
    stages = {s.role: s.describe() for s in (plan.generator, plan.segmenter) if s is not None}
    keep_trained(rundir.root, outputs.trained, stages)  # what `wsad predict` and `wsad export` restore
    evaluation, test_native = evaluate_maps(
        plan,
        host,
        test=data.test,
        test_maps=outputs.test_maps,
        validation=data.validation,
        validation_maps=outputs.validation_maps,
        make_context=make_context,
    )
    if outputs.train_masks is not None:
        evaluation.rows["pseudo-masks/train"] = evaluate_pseudo_masks(
            plan,
            host,
            soft_maps=outputs.train_masks.soft,
            reference=data.train.reference.select(data.train_positions),
            train=data.train,
            make_context=make_context,
        )
    notes = outputs.notes + evaluation.notes
    deviations = run_deviations(data, outputs)
    rundir.write_environment(
        capture_environment(
            device=device,
            seed=config.seed,
            extra={
                "provenance": outputs.provenance,
                "notes": notes,
                "deviations": [d.to_dict() for d in deviations],
                "selection": describe_selection(outputs.selection),
                "split_sha256": data.split.sha256,
                "dataset": {"name": data.index.name, "root": str(data.index.root), "synthetic": data.index.synthetic},
                # Under torchrun the segmenter trained on this many ranks (the batch was sharded across them).
                "world_size": distributed.current().size,
            },
        )
    )
    columns = {
        **_columns(config, plan, data),
        "selection": describe_selection(outputs.selection),
        "published_setting": not deviations,
        "n_deviations": len(deviations),
        "deviations": describe_deviations(deviations, with_source=True),
        "notes": " | ".join(outputs.notes),
    }
    summary = write_tables(
        rundir,
        evaluation,
        plan,
        columns=columns,
        header=_header(config, plan, data, evaluation, outputs, device),
        deviations=deviations,
    )
    if config.output.save_maps:
        write_maps(rundir, data.test, test_native, progress)
    data_kind = "SYNTHETIC data" if data.index.synthetic else "real data"
    write_overlays(
        rundir,
        data.test,
        test_native,
        positions,
        outputs.overlay_masks,
        evaluation,
        deviations=deviations,
        method=f"{config.pipeline.label()} on {data.index.name} ({data_kind})",
    )
    if config.output.learning_curves:
        title = f"{config.pipeline.label()} on {data.index.name}: validation patients, per-slice Dice at 0.5"
        if plot_learning_curve(rundir.root / CURVE_FILE, rundir.root / "learning_curve.png", title) is None:
            log.warning("learning curves were requested but no stage reported one (cached stages report nothing)")
    log.info("run took %.1f s", time.perf_counter() - started)
    return summary


def _columns(config: RunConfig, plan: PipelinePlan, data: RunData) -> dict[str, Any]:
    """Labels repeated on every output row (with the plugins' notes, e.g. random-init weights)."""
    return {
        "dataset": data.index.name,
        "modality": "+".join(config.data.modalities),
        "pipeline": config.pipeline.label(),
        "generator": plan.generator.name if plan.generator else "",
        "refiner": plan.refiner.name if plan.refiner else "",
        "segmenter": plan.segmenter.name if plan.segmenter else "",
        "output_kind": plan.output_kind,
        "reference_baseline": any(s.spec.reference for s in (plan.generator, plan.refiner, plan.segmenter) if s),
        "seed": config.seed,
        "split_seed": config.data.split.seed,
    }


def _header(
    config: RunConfig,
    plan: PipelinePlan,
    data: RunData,
    evaluation: Evaluation,
    outputs: StageOutputs,
    device: str,
) -> dict[str, str]:
    """The facts printed above every summary table."""
    stages = [s for s in (plan.generator, plan.refiner, plan.segmenter) if s is not None]
    reference = [s.name for s in stages if s.spec.reference]
    index, split, pre = data.index, data.split, config.data.preprocess
    header = {
        "pipeline": " → ".join(f"{s.role} {s.name} {s.spec.version}".strip() for s in stages),
        "data": f"{index.name} ({index.description or index.root})" + (" — SYNTHETIC data" if index.synthetic else ""),
        "modalities": ", ".join(config.data.modalities),
        "split": f"by patient, seed {split.config.seed}: {len(split.train)} train / {len(split.validation)} "
        f"validation / {len(split.test)} test patients (sha256 {split.sha256[:12]})",
        "preprocessing": f"axial slices {pre.skip_first}..D-{pre.skip_last}, resized to {pre.size}², "
        f"{pre.normalisation} normalisation; maps evaluated in the native slice grid",
        "thresholds": describe_thresholds(evaluation),
        "checkpoint selection": describe_selection(outputs.selection),
        "seed / device": f"{config.seed} / {device}",
    }
    if reference:
        header["reference baselines"] = (
            f"{', '.join(reference)} are deliberately simple reference baselines, not published methods"
        )
    if evaluation.validation:
        header["validation (val-best)"] = (
            f"{evaluation.validation['patients']} patient(s), {evaluation.validation['slices']} slices"
        )
    for i, note in enumerate(outputs.notes + evaluation.notes, 1):
        header[f"note {i}"] = f"NOTE: {note}"
    return header
