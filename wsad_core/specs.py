"""Frozen specs that plugins register, one per method or protocol.

A plugin never registers instances: it returns specs from its ``wsad_register_*``
hooks, and the core builds objects from them with ``spec.factory(options, context)``
only when a run asks for that name. Example::

    GeneratorSpec(
        name="zscore",
        summary="Intensity z-score against healthy slices (reference baseline).",
        options=ZScoreOptions,          # pydantic model, extra="forbid"
        factory=ZScoreGenerator.from_options,
    )
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel

from wsad_core.errors import PluginLoadError

if TYPE_CHECKING:
    from wsad_core.context import BuildContext
    from wsad_core.data.index import DatasetIndex
    from wsad_core.types import MapKind

__all__ = [
    "DatasetSpec",
    "EvaluatorSpec",
    "GeneratorSpec",
    "IOContract",
    "PluginSpec",
    "RefinerSpec",
    "Role",
    "SegmenterSpec",
    "WeightsInfo",
]

Role = Literal["generator", "refiner", "segmenter", "evaluator", "dataset"]
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*")


@dataclass(frozen=True, slots=True, kw_only=True)
class IOContract:
    """What a method consumes and produces, checked by the core before a run starts.

    Attributes:
        modalities: channels the method requires, in order (``None``: any single or
            multi-channel input).
        max_channels: most input channels the method accepts (``None``: no limit).
        output_kind: ``"probability"`` maps in ``[0, 1]`` or unbounded ``"score"`` maps.
        deterministic: the method gives identical outputs for identical seeds on CPU.
    """

    modalities: tuple[str, ...] | None = None
    max_channels: int | None = None
    output_kind: MapKind = "probability"
    deterministic: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightsInfo:
    """Pretrained weights a method needs, and how the core can tell whether they are here.

    Attributes:
        description: what the weights are, e.g. ``"OpenAI CLIP ViT-B/32"``.
        source: where a user obtains them (URL or package name).
        option: the options field that takes a local path, e.g. ``"weights"``.
        env_var: environment variable consulted when the option is empty.
        sha256: expected checksum of the file, if fixed.
        locate: returns the local path for the given options, or ``None`` when absent.
    """

    description: str
    source: str
    option: str = "weights"
    env_var: str | None = None
    sha256: str | None = None
    locate: Callable[[BaseModel], Path | None] | None = None

    def status(self, options: BaseModel) -> Literal["available", "missing", "unknown"]:
        """``available`` or ``missing`` for ``options``, ``unknown`` without a locator."""
        if self.locate is None:
            return "unknown"
        return "available" if self.locate(options) is not None else "missing"


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginSpec:
    """Fields shared by every role's spec.

    Attributes:
        name: unique within the role; lowercase, digits and ``-`` (``"ddpt"``, ``"medsam-box"``).
        summary: one line shown by ``wsad plugins``.
        options: pydantic model of the method's options (``extra="forbid"``, every field
            with a ``description``); its defaults are the published configuration.
        factory: ``factory(options, context)`` builds the role object.
        version: of the method implementation; defaults to the distribution's version.
        citation: the paper, e.g. ``"Sharma et al., BMVC 2025"``.
        license: licence of the implementation or weights.
        reference: ``True`` for deliberately simple reference baselines, which outputs
            label as such.
        weights: pretrained weights the method needs, if any.
        io: the input/output contract.
        loader: ``loader(path, context)`` restores a trained role object from the file its
            ``save(path)`` method wrote after training; ``wsad predict`` and ``wsad export`` use
            the pair to apply a finished run to new data. ``None``: not restorable (unless
            ``stateless``).
        stateless: the role object needs no training: one built by ``factory`` from the run's
            options behaves as the trained one (refiners and prompted foundation models).
    """

    role: ClassVar[Role]

    name: str
    summary: str
    options: type[BaseModel]
    factory: Callable[[Any, BuildContext], Any]
    version: str = ""
    citation: str = ""
    license: str = ""
    reference: bool = False
    weights: WeightsInfo | None = None
    io: IOContract = field(default_factory=IOContract)
    loader: Callable[[Path, BuildContext], Any] | None = None
    stateless: bool = False

    @property
    def restorable(self) -> bool:
        """Whether ``wsad predict`` can rebuild this stage of a finished run."""
        return self.stateless or self.loader is not None

    def validate(self) -> None:
        """Raise :class:`PluginLoadError` if the spec is malformed."""
        problems = []
        if not _NAME.fullmatch(self.name):
            problems.append(f"name {self.name!r} must be lowercase letters, digits and '-'")
        if not self.summary.strip():
            problems.append("summary is empty")
        if not (isinstance(self.options, type) and issubclass(self.options, BaseModel)):
            problems.append("options must be a pydantic BaseModel subclass")
        elif self.options.model_config.get("extra") != "forbid":
            problems.append(f"options model {self.options.__name__} must set extra='forbid'")
        else:
            undocumented = [n for n, f in self.options.model_fields.items() if not f.description]
            if undocumented:
                problems.append(f"options without a description: {', '.join(undocumented)}")
        if not callable(self.factory):
            problems.append("factory is not callable")
        if self.loader is not None and not callable(self.loader):
            problems.append("loader is not callable")
        if problems:
            raise PluginLoadError(f"{self.role} spec {self.name!r} is invalid: " + "; ".join(problems))


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratorSpec(PluginSpec):
    """A pseudo-mask generator: image-level labels → pixel-level masks."""

    role: ClassVar[Role] = "generator"


@dataclass(frozen=True, slots=True, kw_only=True)
class RefinerSpec(PluginSpec):
    """A refiner: image + pseudo-mask → better mask."""

    role: ClassVar[Role] = "refiner"


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmenterSpec(PluginSpec):
    """A segmenter producing anomaly maps.

    Attributes:
        needs_pseudo_masks: ``True`` for segmenters trained on pseudo-masks (a generator
            is then required); ``False`` for unsupervised ones trained on healthy slices.
        prompted_by_pseudo_masks: ``True`` for segmenters that also need the generator's
            masks of the slices they predict (e.g. MedSAM prompted with pseudo-mask boxes):
            the core then calls ``predict(slices, pseudo_masks=...)``.
        uses_validation_masks: whether ``fit`` reads the validation patients' pseudo-masks
            for these options (checkpoint selection on them, for example): ``True``, ``False``
            or a function of the validated options. When it says ``False`` (and no learning
            curves are asked for) the generator and refiner skip the validation patients'
            slices -- for a MedSAM refiner, the most expensive work of a run -- and ``fit``
            gets ``validation_masks=None``.
        accepts_pseudo_masks: with ``needs_pseudo_masks=False``: the segmenter trains without
            pseudo-masks but uses them when the run has a generator (SADM: on the pseudo-masks
            instead of synthetic anomalies). The core then allows ``--generator`` and passes its
            masks to ``fit``; without a generator ``fit`` gets ``None``.
    """

    role: ClassVar[Role] = "segmenter"
    needs_pseudo_masks: bool = True
    prompted_by_pseudo_masks: bool = False
    uses_validation_masks: bool | Callable[[Any], bool] = True
    accepts_pseudo_masks: bool = False

    @property
    def trains_on_pseudo_masks(self) -> bool:
        """Whether ``fit`` gets the generator's masks when the run has one (needed or accepted)."""
        return self.needs_pseudo_masks or self.accepts_pseudo_masks

    def reads_validation_masks(self, options: Any) -> bool:
        """Whether ``fit`` with ``options`` reads validation pseudo-masks (see ``uses_validation_masks``)."""
        if not self.trains_on_pseudo_masks:
            return False
        rule = self.uses_validation_masks
        return bool(rule(options)) if callable(rule) else bool(rule)


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluatorSpec(PluginSpec):
    """An evaluation protocol.

    Attributes:
        label: human-readable protocol description printed beside every number.
        headline: whether the protocol may head a comparison table (oracles may not).
    """

    role: ClassVar[Role] = "evaluator"
    label: str = ""
    headline: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetSpec(PluginSpec):
    """A dataset adapter turning a folder layout into a :class:`DatasetIndex`.

    Attributes:
        detect: ``detect(path)`` is ``True`` when ``path`` has this adapter's layout.
        factory: ``factory(options, path)`` returns the :class:`DatasetIndex`.
    """

    role: ClassVar[Role] = "dataset"
    detect: Callable[[Path], bool] = field(default=lambda path: False)
    factory: Callable[[Any, Path], DatasetIndex]
