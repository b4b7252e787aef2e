"""``wsad run``: one pipeline on one dataset, evaluated and written to a results directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from wsad_core.cli._logging import verbosity_options
from wsad_core.cli._state import CliState
from wsad_core.cli._tables import print_run_summary
from wsad_core.errors import ConfigError
from wsad_core.overrides import apply_overrides, load_config_file

__all__ = ["build_run_config", "run"]


def _pydantic_problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(config)'}: {e['msg']}" for e in error.errors())


def build_run_config(
    *,
    config_file: Path | None,
    stages: dict[str, str | None],
    flags: dict[str, Any],
    assignments: tuple[str, ...],
) -> Any:
    """Defaults < config file < command-line flags < ``-o`` assignments, validated.

    Raises:
        ConfigError: naming every invalid field.
    """
    from wsad_core.config import RunConfig

    raw: dict[str, Any] = load_config_file(config_file) if config_file else {}
    pipeline = raw.setdefault("pipeline", {})
    for role, name in stages.items():
        if name is not None:
            previous = pipeline.get(role) or {}
            same = isinstance(previous, dict) and previous.get("name") == name
            pipeline[role] = {"name": name, "options": previous.get("options", {}) if same else {}}
    for path, value in flags.items():
        if value is None or value == ():
            continue
        node = raw
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    raw = apply_overrides(raw, assignments)
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(
            f"invalid run configuration: {_pydantic_problems(error)}", hint="see `wsad run --help`"
        ) from None


@click.command()
@click.option(
    "--generator", metavar="NAME", help="Pseudo-mask generator: image-level labels → masks (e.g. zscore, ddpt)."
)
@click.option("--refiner", metavar="NAME", help="Optional refiner of the pseudo-masks (e.g. medsam).")
@click.option(
    "--segmenter",
    metavar="NAME",
    help="Segmenter trained on the pseudo-masks, or an unsupervised one used alone (e.g. unet, rasalore). "
    "Without it the pseudo-masks' soft maps are evaluated.",
)
@click.option(
    "--data",
    "source",
    metavar="PATH|demo",
    help="Dataset folder, or 'demo' for the embedded synthetic dataset (default).",
)
@click.option(
    "--adapter",
    metavar="NAME",
    help="Dataset adapter (brats, brats-demo, msd-brain, folder, ...); detected from the folder when omitted.",
)
@click.option(
    "--modality",
    "modalities",
    multiple=True,
    metavar="NAME",
    help="Input modality, repeatable for several channels: flair, t1, t1ce, t2 (default flair).",
)
@click.option(
    "--protocol",
    "protocols",
    multiple=True,
    metavar="NAME",
    help="Evaluation protocol, repeatable (default: per-slice, pooled, per-volume, slice-detection).",
)
@click.option(
    "--threshold",
    "threshold_rules",
    multiple=True,
    metavar="RULE",
    help="Threshold rule, repeatable: fixed[:T], val-best (best Dice statistic of each protocol on the validation "
    "patients), oracle (the same on test labels: a ceiling, marked in every output). Default: fixed:0.5, val-best, "
    "oracle.",
)
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Run configuration file (YAML, JSON or TOML); flags and -o override it.",
)
@click.option(
    "-o",
    "--option",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set an option, repeatable: generator.X, refiner.X, segmenter.X (plugin options), dataset.X "
    "(adapter options), evaluator.PROTOCOL.X, or a config path like data.preprocess.size=128.",
)
@click.option("--device", help="auto (CUDA if available, else CPU), cpu, cuda or cuda:N. [default: auto]")
@click.option("--seed", type=int, help="Seed of the methods' random streams. [default: 42]")
@click.option("--deterministic", is_flag=True, default=None, help="Force deterministic torch algorithms.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Run directory. [default: runs/<timestamp>-<pipeline>]",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out, skipping finished stages and epochs.")
@click.option("--max-cases", type=int, help="Use only the first N cases (sorted by id): quick trials only.")
@click.option("--overlays", type=int, help="Number of PNG overlays of test slices. [default: 8]")
@click.option("--no-maps", is_flag=True, default=None, help="Do not write the predicted maps as NIfTI.")
@click.option(
    "--plugin-file",
    "plugin_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Register an unpackaged plugin module (a .py file with @hookimpl functions), repeatable.",
)
@click.option("--dry-run", is_flag=True, help="Print the resolved configuration and plan, run nothing.")
@click.option(
    "--no-progress",
    is_flag=True,
    help="Log progress as lines (in run.log and on stderr) instead of bars; automatic when stderr is not a terminal.",
)
@click.option(
    "--scale",
    type=click.Choice(["paper", "cpu"]),
    default="paper",
    show_default=True,
    help="Training size of the built-in methods: 'paper' (published; hours to days on a CPU for ame-cam, dae, "
    "rasalore) or 'cpu' (the reduced epochs and widths of the CPU benchmarks; listed on every output row). "
    "-o options still win.",
)
@click.pass_obj
@verbosity_options
def run(state: CliState, **kw: Any) -> None:
    """Run a weakly supervised pipeline end to end and write its results directory.

    \b
    Examples:
      wsad run --generator zscore --segmenter unet
      wsad run --generator ddpt --segmenter rasalore --data ../shared/data/brats2018_demo \\
               -o generator.weights=ViT-B-32.pt
      wsad run --generator zscore --segmenter unet -o segmenter.epochs=2 --max-cases 4 --out runs/quick
      wsad run --generator ame-cam --refiner medsam --segmenter rasalore --scale cpu
    """
    import yaml

    from wsad_core.pipeline import plan_pipeline, run_pipeline

    state.load_plugin_files(kw["plugin_files"])
    config = build_run_config(
        config_file=kw["config_file"],
        stages={"generator": kw["generator"], "refiner": kw["refiner"], "segmenter": kw["segmenter"]},
        flags={
            "data.source": kw["source"],
            "data.adapter": kw["adapter"],
            "data.modalities": kw["modalities"] or None,
            "data.max_cases": kw["max_cases"],
            "evaluation.protocols": kw["protocols"] or None,
            "evaluation.threshold_rules": kw["threshold_rules"] or None,
            "device": kw["device"],
            "seed": kw["seed"],
            "deterministic": kw["deterministic"],
            "output.out_dir": str(kw["out_dir"]) if kw["out_dir"] else None,
            "output.overlays": kw["overlays"],
            "output.save_maps": False if kw["no_maps"] else None,
        },
        assignments=kw["assignments"],
    )
    if kw["scale"] == "cpu":  # the CPU benchmarks' sizes, under the user's own options (as wsad bench --scale cpu)
        from wsad_core.bench.presets import cpu_scaled

        config = config.model_copy(update={"pipeline": cpu_scaled(config.pipeline)})
    if kw["resume"] and config.output.out_dir is None:
        raise ConfigError("--resume needs --out DIR naming the run to continue")
    if kw["dry_run"]:
        plan = plan_pipeline(config, state.host)
        click.echo(
            yaml.safe_dump(
                {"config": config.model_dump(mode="json"), "resolved": plan.describe()},
                sort_keys=False,
                allow_unicode=True,
            )
        )
        for line in _work_estimate(config, plan, state):
            click.echo(f"# {line}")  # YAML comments: the output stays a valid configuration
        return
    outcome = run_pipeline(config, state.host, resume=kw["resume"], progress=state.progress(not kw["no_progress"]))
    print_run_summary(outcome)


def _work_estimate(config: Any, plan: Any, state: CliState) -> list[str]:
    """What the run would do: its training slices and, for stages with epochs, slices x epochs."""
    from wsad_core.data import inspect_dataset, open_dataset, split_cases
    from wsad_core.errors import WsadError

    try:
        index = open_dataset(
            config.data.source, state.host, adapter=config.data.adapter, options=config.data.adapter_options
        )
        if config.data.max_cases:
            index = dataclasses.replace(index, cases=index.cases[: config.data.max_cases])
        split = split_cases([c.case_id for c in index.cases], config.data.split)
        report = inspect_dataset(index, config.data.preprocess)
    except WsadError as error:
        return [f"work: not estimated ({error.message})"]
    by_case = {c.case_id: c for c in report.cases}
    train = [by_case[i] for i in split.train]
    anomalous = sum(c.anomalous or 0 for c in train)
    healthy = sum(c.healthy or 0 for c in train)
    lines = [
        f"work: {len(split.train)} training, {len(split.validation)} validation, {len(split.test)} test patients; "
        f"training slices {anomalous} anomalous + {healthy} healthy (before each method's own selection)"
    ]
    for stage in (plan.generator, plan.refiner, plan.segmenter):
        if stage is None:
            continue
        options = stage.options.model_dump() if hasattr(stage.options, "model_dump") else dict(stage.options)
        epochs = options.get("epochs")
        if isinstance(epochs, int):
            lines.append(
                f"work: {stage.role} {stage.name}: {epochs} epochs x up to {anomalous + healthy} slices = "
                f"{epochs * (anomalous + healthy):,} slice passes"
            )
    return lines
