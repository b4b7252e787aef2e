"""``wsad eval``: score anomaly maps made by any tool with wsad's protocols."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from wsad_core.cli._logging import verbosity_options
from wsad_core.cli._state import CliState
from wsad_core.cli._tables import summary_table
from wsad_core.errors import ConfigError

__all__ = ["eval_command"]


@click.command(name="eval")
@click.argument("pred_dir", metavar="PRED_DIR|RUN_DIR", type=click.Path(path_type=Path, file_okay=False))
@click.argument("gt_source", metavar="GT_DIR|demo")
@click.option(
    "--protocol",
    "protocols",
    multiple=True,
    metavar="NAME",
    help="Protocol, repeatable (default: per-slice, pooled, per-volume, slice-detection).",
)
@click.option(
    "--threshold",
    "threshold_rules",
    multiple=True,
    metavar="RULE",
    help="fixed[:T] or oracle (chosen on the test labels: a ceiling, marked as such), repeatable. "
    "[default: fixed:0.5, oracle]",
)
@click.option(
    "--kind",
    type=click.Choice(["probability", "score"]),
    default="probability",
    show_default=True,
    help="Whether the maps are probabilities in [0, 1] or unbounded scores (fixed thresholds are skipped).",
)
@click.option("--adapter", metavar="NAME", help="Adapter of the ground-truth dataset; detected when omitted.")
@click.option(
    "--modality",
    "modalities",
    multiple=True,
    metavar="NAME",
    help="Modality the brain is estimated from (a brain-mask file wins when the dataset has one), repeatable. "
    "[default: flair]",
)
@click.option(
    "-o",
    "--option",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="evaluator.PROTOCOL.X=V for protocol options, dataset.X=V for adapter options, "
    "preprocess.X=V (e.g. preprocess.skip_first=0 to score every slice).",
)
@click.option(
    "--missing",
    type=click.Choice(["skip", "zero"]),
    default="skip",
    show_default=True,
    help="Cases of GT_DIR without a map: 'skip' scores only the cases that have one (the others are named); "
    "'zero' scores every case, a missing map counting as all-zero (a failure cannot raise the score).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write metrics/ and summary.{csv,json,md} there.",
)
@click.pass_obj
@verbosity_options
def eval_command(state: CliState, pred_dir: Path, gt_source: str, **kw: Any) -> None:
    """Score the NIfTI maps in PRED_DIR (one <case_id>.nii.gz per case, in the image's grid) against GT_DIR.

    Only cases with a map are scored unless --missing zero. Slices 15..D-15 are scored, as in `wsad run`.
    Given a run folder (RUN_DIR, with run.json and maps/), its maps are scored on its test patients with
    its preprocessing and protocol options (-o still overrides them): the numbers of the run itself. Case ids
    with characters other than ASCII letters, digits and ._- (or a leading . or -) are named as
    `wsad run` names its maps: those characters as %XX UTF-8 bytes, e.g. 'a b' -> a%20b.nii.gz.
    """
    from wsad_core.cli._scored import write_scores
    from wsad_core.config import EvaluationConfig
    from wsad_core.context import BuildContext
    from wsad_core.data import PreprocessConfig, open_dataset
    from wsad_core.overrides import apply_overrides
    from wsad_core.pipeline import evaluate_prediction_dir
    from wsad_core.pipeline.plan import PipelinePlan, plan_evaluation
    from wsad_core.results import summarise

    pred_dir, only, defaults = _prediction_source(pred_dir)
    raw: dict[str, Any] = {
        **defaults,
        "evaluation": {
            **defaults.get("evaluation", {}),
            "threshold_rules": list(kw["threshold_rules"] or ("fixed:0.5", "oracle")),
        },
    }
    if kw["protocols"]:
        raw["evaluation"]["protocols"] = list(kw["protocols"])
    raw = apply_overrides(raw, kw["assignments"])
    try:
        evaluation_config = EvaluationConfig.model_validate(raw.get("evaluation", {}))
        preprocess = PreprocessConfig.model_validate(
            {**raw.get("data", {}).get("preprocess", {}), **raw.get("preprocess", {})}
        )
    except ValidationError as error:
        raise ConfigError(f"invalid evaluation settings: {error.errors()[0]['msg']}") from None
    evaluators, rules = plan_evaluation(evaluation_config, state.host)
    plan = PipelinePlan(None, None, None, evaluators, rules)
    index = open_dataset(
        gt_source, state.host, adapter=kw["adapter"], options=raw.get("data", {}).get("adapter_options")
    )
    work = kw["out_dir"] or Path(".")

    def make_context(stage: object, key: str | None = None) -> BuildContext:
        return BuildContext(work_dir=work, logger=logging.getLogger(f"wsad.evaluator.{getattr(stage, 'name', '')}"))

    evaluation, missing = evaluate_prediction_dir(
        pred_dir,
        index,
        modalities=tuple(kw["modalities"] or ("flair",)),
        preprocess=preprocess,
        plan=plan,
        host=state.host,
        kind=kw["kind"],
        progress=state.progress(),
        make_context=make_context,
        missing=kw["missing"],
        only=only,
    )
    columns = {"dataset": index.name, "predictions": str(pred_dir), "output_kind": kw["kind"]}
    rows = evaluation.rows["test"]
    summary = [{"target": "test", **columns, **entry} for entry in summarise(rows)]
    from rich.console import Console

    Console().print(summary_table(summary, title=f"{pred_dir} vs {index.name} — metrics in %"))
    if missing:
        what = "counted as all-zero" if kw["missing"] == "zero" else "not scored (--missing zero counts them as 0)"
        click.echo(f"{len(missing)} case(s) without a map {what}: {', '.join(missing)}", err=True)
    if kw["out_dir"] is not None:
        written = write_scores(
            kw["out_dir"],
            fingerprint="eval",
            rows=rows,
            summary=summary,
            columns=columns,
            plan=plan,
            evaluation=evaluation,
            header={"predictions": str(pred_dir), "ground truth": f"{index.name} at {index.root}"},
        )
        click.echo(f"written to {written}")


def _prediction_source(path: Path) -> tuple[Path, list[str] | None, dict[str, Any]]:
    """``(maps folder, cases to score, default settings)``: a run folder gives its maps, test patients and settings."""
    import json

    from wsad_core.results import read_run_config

    if not ((path / "run.json").is_file() and (path / "maps").is_dir()):
        return path, None, {}
    try:
        split = json.loads((path / "split.json").read_text(encoding="utf-8"))
        saved = read_run_config(path)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{path} looks like a run folder but its split.json or config.yaml is unreadable: {error}"
        ) from None
    evaluation = {"protocol_options": saved.get("evaluation", {}).get("protocol_options", {})}
    preprocess = saved.get("data", {}).get("preprocess", {})
    return path / "maps", list(split["test"]), {"evaluation": evaluation, "preprocess": preprocess}
