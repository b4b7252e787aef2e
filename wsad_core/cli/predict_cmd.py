"""``wsad predict`` and ``wsad export``: apply a finished run to new scans; share it as a bundle."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from wsad_core.cli._logging import verbosity_options
from wsad_core.cli._state import CliState
from wsad_core.errors import ConfigError

__all__ = ["export_command", "predict_command"]

log = logging.getLogger("wsad.predict")


@click.command(name="predict")
@click.argument("source", metavar="RUN_DIR|BUNDLE", type=click.Path(path_type=Path, file_okay=False))
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for maps/<case>.nii.gz (scores), masks/<case>.nii.gz (0/1) and prediction.json. Rerunning the "
    "same command into it continues an interrupted prediction.",
)
@click.option("--adapter", metavar="NAME", help="Dataset adapter of a folder INPUT; detected when omitted.")
@click.option(
    "-o",
    "--option",
    "assignments",
    multiple=True,
    metavar="dataset.X=V",
    help="Adapter options of a folder INPUT, repeatable, e.g. -o dataset.images='img/*.nii.gz'.",
)
@click.option(
    "--threshold",
    type=float,
    help="Binarise the masks at this value instead of the run's val-best threshold (or 0.5 without one).",
)
@click.option(
    "--protocol",
    default="per-slice",
    show_default=True,
    help="Whose val-best threshold the masks use (the run chose one per protocol).",
)
@click.option(
    "--evaluate",
    is_flag=True,
    help="Also score the maps against the ground truth INPUT holds, with the run's protocols: the chosen "
    "threshold (fixed) and oracle (a ceiling chosen on these labels). Writes summary.md/csv/json in --out.",
)
@click.option("--device", help="auto (CUDA if available, else CPU), cpu, cuda or cuda:N. [default: auto]")
@click.option(
    "--allow-version-mismatch",
    is_flag=True,
    help="Predict even when an installed plugin has another version than the one that trained the model.",
)
@click.option("--no-progress", is_flag=True, help="Log progress as lines instead of bars.")
@click.pass_obj
@verbosity_options
def predict_command(state: CliState, source: Path, inputs: tuple[str, ...], **kw: Any) -> None:
    """Apply a finished run (RUN_DIR) or an exported bundle (BUNDLE) to new data, without ground truth.

    INPUT is a dataset folder any adapter reads (or `demo`), or NIfTI files (one case each, as the run's single
    modality). The test-time stages are restored from the run's trained state, cases are prepared with its
    preprocessing, and for every case a map and a binary mask are written in the case's own grid and affine.

    \b
    Examples:
      wsad predict runs/20261201-120000-zscore-to-unet ../scans --out preds
      wsad predict my-bundle scan1.nii.gz scan2.nii.gz --out preds
      wsad predict my-bundle ../shared/data/brats2018_demo --out preds --evaluate
    """
    from wsad_core.context import BuildContext
    from wsad_core.deviations import as_deviations
    from wsad_core.device import resolve_device, seed_everything
    from wsad_core.overrides import apply_overrides
    from wsad_core.plugins import with_stage_builder
    from wsad_core.predict import open_inputs, open_trained, predict_cases

    trained = open_trained(source, state.host, allow_version_mismatch=kw["allow_version_mismatch"])
    wrong = [a for a in kw["assignments"] if not a.startswith("dataset.")]
    if wrong:
        raise ConfigError(f"wsad predict takes -o dataset.X=V only, got {', '.join(wrong)}")
    adapter_options = apply_overrides({}, kw["assignments"]).get("data", {}).get("adapter_options")
    config = trained.config
    index = open_inputs(
        list(inputs),
        state.host,
        tuple(config.data.modalities),
        adapter=kw["adapter"],
        adapter_options=adapter_options,
    )
    if kw["threshold"] is not None:
        threshold, rule = float(kw["threshold"]), "given with --threshold"
    else:
        threshold, rule = trained.choose_threshold(kw["protocol"])
    device = resolve_device(kw["device"] or config.device)
    seed_everything(config.seed, deterministic=config.deterministic)
    out_dir: Path = kw["out_dir"]
    progress = state.progress(not kw["no_progress"])
    context = BuildContext(
        device=device,
        seed=config.seed,
        work_dir=out_dir / ".work",
        amp=device.startswith("cuda"),
        deterministic=config.deterministic,
        progress=progress,
        logger=logging.getLogger("wsad.predict.plugin"),
        preprocessing=config.data.preprocess,
    )
    # A restored stage made of other plugins (SADM's stage I) restores them through the same host.
    context = with_stage_builder(context, state.host)
    objects = trained.build(state.host, context)
    prediction = predict_cases(
        trained, objects, index, out_dir, threshold=threshold, threshold_rule=rule, progress=progress
    )
    click.echo(
        f"{len(prediction.written)} case(s) predicted"
        + (f", {len(prediction.reused)} kept from an earlier call" if prediction.reused else "")
        + f" with {config.pipeline.label()} from {source}; masks at {threshold:.4g} ({rule})"
    )
    for deviation in as_deviations(trained.facts.get("deviations") or []):
        click.echo(f"  not the published method: {deviation.text()}")
    if kw["evaluate"]:
        _evaluate(state, trained, index, out_dir, threshold, progress)
    click.echo(f"written to {out_dir}/ (maps/, masks/, prediction.json)")


def _evaluate(state: CliState, trained: Any, index: Any, out_dir: Path, threshold: float, progress: Any) -> None:
    """Score the written maps with the run's protocols (``--evaluate``)."""
    from rich.console import Console

    from wsad_core.cli._scored import write_scores
    from wsad_core.cli._tables import summary_table
    from wsad_core.context import BuildContext
    from wsad_core.errors import DataError
    from wsad_core.pipeline import evaluate_prediction_dir
    from wsad_core.pipeline.plan import PipelinePlan, plan_evaluation
    from wsad_core.results import summarise

    if not any(case.mask is not None for case in index.cases):
        raise DataError("--evaluate: the input holds no ground-truth masks", hint="drop --evaluate")
    rules = (f"fixed:{threshold!r}", "oracle")
    evaluation_config = trained.config.evaluation.model_copy(update={"threshold_rules": rules})
    evaluators, parsed = plan_evaluation(evaluation_config, state.host)
    plan = PipelinePlan(None, None, None, evaluators, parsed)

    def make_context(stage: object, key: str | None = None) -> BuildContext:
        return BuildContext(work_dir=out_dir / ".work", logger=logging.getLogger("wsad.evaluator"))

    evaluation, missing = evaluate_prediction_dir(
        out_dir / "maps",
        index,
        modalities=tuple(trained.config.data.modalities),
        preprocess=trained.config.data.preprocess,
        plan=plan,
        host=state.host,
        kind=trained.plan.output_kind,
        progress=progress,
        make_context=make_context,
    )
    rows = evaluation.rows["test"]
    columns = {"dataset": index.name, "pipeline": trained.config.pipeline.label(), "source": str(trained.root)}
    summary = [{"target": "test", **columns, **entry} for entry in summarise(rows)]
    Console().print(summary_table(summary, title=f"{trained.config.pipeline.label()} on {index.root} — metrics in %"))
    written = write_scores(
        out_dir / "evaluation",
        fingerprint="predict-evaluate",
        rows=rows,
        summary=summary,
        columns=columns,
        plan=plan,
        evaluation=evaluation,
        header={"model": str(trained.root), "data": f"{index.name} at {index.root}"},
    )
    if missing:
        click.echo(f"{len(missing)} case(s) without a map were not scored: {', '.join(missing)}", err=True)
    click.echo(f"evaluation written to {written}")


@click.command(name="export")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("bundle", metavar="BUNDLE", type=click.Path(path_type=Path, file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace BUNDLE if it exists.")
@click.pass_obj
@verbosity_options
def export_command(state: CliState, run_dir: Path, bundle: Path, overwrite: bool) -> None:
    """Write a finished run as a self-contained, versioned bundle folder for `wsad predict BUNDLE ...`.

    The bundle holds the trained state (weights-only loadable, with sha256), the resolved configuration with
    its preprocessing, the thresholds the run chose, the plugins and their versions, provenance and every
    deviation from the published methods. Another machine needs wsad and the same plugins; a missing plugin
    or another version is named when it predicts.
    """
    from wsad_core.predict import export_bundle

    written = export_bundle(run_dir, bundle, state.host, overwrite=overwrite)
    click.echo(f"bundle written to {written}/ — use it with: wsad predict {written} INPUT --out DIR")
