"""Hook specifications: every extension point of wsad.

A plugin is a module (or object) with functions decorated by :data:`wsad_core.hookimpl`
and named after the hooks below, registered under the entry-point group ``wsad``::

    # pyproject.toml
    [project.entry-points.wsad]
    my_method = "my_package.plugin"

The core calls hooks with keyword arguments and only ever *adds* arguments, so an
implementation may accept a subset of them and keeps working across versions.
Registration hooks return specs (never instances); the core validates them, rejects
duplicate names and records which distribution provided each.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from wsad_core.specs import DatasetSpec, EvaluatorSpec, GeneratorSpec, RefinerSpec, SegmenterSpec
    from wsad_core.types import RunInfo, RunOutcome

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "wsad"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def wsad_register_generators() -> Iterable[GeneratorSpec]:
    """Register pseudo-mask generators (image-level labels → pixel-level masks).

    :return: the generator specs this plugin provides.

    Example::

        from pydantic import BaseModel, ConfigDict, Field
        from wsad_core import GeneratorSpec, MaskSet, hookimpl

        class BrightOptions(BaseModel):
            model_config = ConfigDict(extra="forbid", frozen=True)
            level: float = Field(0.8, description="Intensity above which a pixel is flagged.")

        class Bright:
            def __init__(self, options, context):
                self.level = options.level
            def fit(self, train, *, validation=None):
                pass
            def generate(self, slices):
                soft = slices.images.max(axis=1).clip(0, 1)
                return MaskSet(soft=soft, masks=soft > self.level, source="bright")

        @hookimpl
        def wsad_register_generators():
            return [GeneratorSpec(name="bright", summary="Bright pixels.",
                                  options=BrightOptions, factory=Bright)]
    """


@hookspec
def wsad_register_refiners() -> Iterable[RefinerSpec]:
    """Register refiners (image + pseudo-mask → better mask).

    :return: the refiner specs this plugin provides.

    Example::

        import numpy as np
        from pydantic import BaseModel, ConfigDict
        from scipy import ndimage
        from wsad_core import MaskSet, RefinerSpec, hookimpl

        class NoOptions(BaseModel):
            model_config = ConfigDict(extra="forbid", frozen=True)

        class FillHoles:
            def __init__(self, options, context):
                pass
            def refine(self, slices, masks):
                filled = np.stack([ndimage.binary_fill_holes(m) for m in masks.masks])
                return MaskSet(soft=filled.astype("float32"), masks=filled, source="fill-holes")

        @hookimpl
        def wsad_register_refiners():
            return [RefinerSpec(name="fill-holes", summary="Fill holes in each mask.",
                                options=NoOptions, factory=FillHoles)]
    """


@hookspec
def wsad_register_segmenters() -> Iterable[SegmenterSpec]:
    """Register segmenters (trained on pseudo-masks, or unsupervised on healthy slices).

    :return: the segmenter specs this plugin provides.

    Example::

        from pydantic import BaseModel, ConfigDict
        from wsad_core import ScoreMaps, SegmenterSpec, hookimpl

        class NoOptions(BaseModel):
            model_config = ConfigDict(extra="forbid", frozen=True)

        class Intensity:
            def __init__(self, options, context):
                pass
            def fit(self, train, pseudo_masks, *, validation=None, validation_masks=None):
                pass
            def predict(self, slices):
                return ScoreMaps(scores=slices.images.mean(axis=1), kind="probability")

        @hookimpl
        def wsad_register_segmenters():
            return [SegmenterSpec(name="intensity", summary="Mean intensity as the map.",
                                  options=NoOptions, factory=Intensity,
                                  needs_pseudo_masks=False)]
    """


@hookspec
def wsad_register_evaluators() -> Iterable[EvaluatorSpec]:
    """Register evaluation protocols (anomaly maps + ground truth → metric rows).

    :return: the evaluator specs this plugin provides.

    Example::

        from pydantic import BaseModel, ConfigDict
        from wsad_core import EvaluatorSpec, MetricRow, hookimpl

        class NoOptions(BaseModel):
            model_config = ConfigDict(extra="forbid", frozen=True)

        class MeanScore:
            def __init__(self, options, context):
                pass
            def evaluate(self, request):
                value = float(request.scores[request.reference.masks].mean())
                return [MetricRow(protocol="mean-lesion-score", unit="pooled", case_id="*",
                                  slice_index=None, metric="mean_score", value=value,
                                  threshold_rule=request.threshold_rule, threshold=None)]

        @hookimpl
        def wsad_register_evaluators():
            return [EvaluatorSpec(name="mean-lesion-score", summary="Mean map value on lesions.",
                                  options=NoOptions, factory=MeanScore)]
    """


@hookspec
def wsad_register_datasets() -> Iterable[DatasetSpec]:
    """Register dataset adapters (a folder layout → a :class:`~wsad_core.DatasetIndex`).

    :return: the dataset specs this plugin provides.

    Example::

        from pydantic import BaseModel, ConfigDict
        from wsad_core import CaseRecord, DatasetIndex, DatasetSpec, VolumeRef, hookimpl

        class NoOptions(BaseModel):
            model_config = ConfigDict(extra="forbid", frozen=True)

        def index(options, root):
            cases = [CaseRecord(case_id=d.name, images={"flair": VolumeRef(d / "flair.nii.gz")},
                                mask=VolumeRef(d / "seg.nii.gz"))
                     for d in sorted(root.iterdir()) if (d / "flair.nii.gz").exists()]
            return DatasetIndex(name="my-layout", root=root, cases=tuple(cases))

        @hookimpl
        def wsad_register_datasets():
            return [DatasetSpec(name="my-layout", summary="case/flair.nii.gz + case/seg.nii.gz",
                                options=NoOptions, factory=index,
                                detect=lambda root: any(root.glob("*/flair.nii.gz")))]
    """


@hookspec
def wsad_register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``wsad`` command line.

    :param cli: the top-level ``wsad`` click group.

    Example::

        import click
        from wsad_core import hookimpl

        @hookimpl
        def wsad_register_commands(cli):
            @cli.command(name="hello")
            def hello():
                \"\"\"Say hello.\"\"\"
                click.echo("hello from my plugin")
    """


@hookspec
def wsad_run_started(run: RunInfo) -> None:
    """Called once a run's configuration is resolved, before any data is loaded.

    :param run: the run's id, directory, resolved configuration, device and seed.

    Example::

        from wsad_core import hookimpl

        @hookimpl
        def wsad_run_started(run):
            print(f"run {run.run_id} writes to {run.run_dir}")
    """


@hookspec
def wsad_run_finished(outcome: RunOutcome) -> None:
    """Called when a run ends, successfully or not (e.g. to send results to a tracker).

    :param outcome: the run, its summary rows, and the error that stopped it, if any.

    Example::

        from wsad_core import hookimpl

        @hookimpl
        def wsad_run_finished(outcome):
            if outcome.error is None:
                for row in outcome.summary:
                    print(row["protocol"], row["metric"], row["mean"])
    """
