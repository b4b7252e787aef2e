"""Deviations from the published method: what every result row says about itself.

A number beside a paper's is only comparable when nothing about the run departs from
what the paper did. Every role object may report the ways it departs as a sequence of
:class:`Deviation` records in a ``deviations`` attribute (read after it has run, like
``notes``); the core adds its own (synthetic data, a substituted stage, another
modality) and every output carries them on the row they concern: ``summary.csv/.json/.md``
of a run, the benchmark's tables, console tables, bar-chart labels and overlay titles.

Example, in a segmenter::

    from wsad_core import Deviation, setting_deviations

    @property
    def deviations(self) -> list[Deviation]:
        found = setting_deviations(self.options, ("epochs", "width"))  # defaults = published values
        if self.weights_sha256 not in OFFICIAL_SHA256:
            found.append(Deviation(kind="weights", what="weights", used="random init", published="official release"))
        return found

Kinds (:data:`DEVIATION_KINDS`):

* ``weights`` — random-init or non-official weights (a file whose sha256 is not the release's);
* ``substitute`` — another backbone or method stands in (LiteMedSAM for MedSAM ViT-B, zscore for DDPT);
* ``setting`` — a hyper-parameter differs from the published one (epochs, widths, shots, preset);
* ``default`` — a choice the paper makes differently from wsad's default (MedSAM box from the largest
  component instead of all foreground; no box jitter; intensity normalisation);
* ``modality`` — another MR contrast than the paper's row (FLAIR for T2);
* ``data`` — another dataset, cohort or split than the paper's (synthetic data, healthy slices of the
  training patients instead of a healthy cohort);
* ``selection`` — another checkpoint selection than the published one;
* ``protocol`` — the evaluation differs from the paper's (threshold rule, frame); the benchmark adds
  these where it prints the paper's number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel

from wsad_core.errors import ContractError

__all__ = [
    "DEVIATION_KINDS",
    "Deviation",
    "DeviationKind",
    "as_deviations",
    "describe_deviations",
    "merge_deviations",
    "outline_deviations",
    "setting_deviations",
]

DeviationKind = Literal["weights", "substitute", "setting", "default", "modality", "data", "selection", "protocol"]
#: Every kind, in the order outputs list them.
DEVIATION_KINDS: tuple[str, ...] = get_args(DeviationKind)
_RANK = {kind: i for i, kind in enumerate(DEVIATION_KINDS)}


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return "/".join(_show(v) for v in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Deviation:
    """One way a result departs from the published method.

    Attributes:
        kind: one of :data:`DEVIATION_KINDS`.
        what: the setting or component, e.g. ``"epochs"``, ``"backbone"``, ``"modality"``.
        used: what this run used, e.g. ``"4"``, ``"LiteMedSAM"``, ``"flair"``.
        published: what the paper used, e.g. ``"200"``, ``"MedSAM ViT-B"``, ``"t2"``.
        source: who reports it, e.g. ``"segmenter rasalore"``; the core fills it in for plugins.
    """

    kind: DeviationKind
    what: str
    used: str
    published: str
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _RANK:
            raise ContractError(f"deviation kind {self.kind!r} is not one of {', '.join(DEVIATION_KINDS)}")
        for name in ("what", "used", "published", "source"):
            value = getattr(self, name)
            if not isinstance(value, str) or (name != "source" and not value.strip()):
                raise ContractError(f"deviation {name!r} must be a non-empty string, got {value!r}")
            if ";" in value or "|" in value:
                # Outputs join deviations with '; ' and put them in table cells.
                raise ContractError(f"deviation {name!r} must not contain ';' or '|': {value!r}")

    def short(self) -> str:
        """``"epochs 4 (published 200)"``, or for a substitute ``"generator zscore instead of ddpt"``: a row's text."""
        if self.kind == "substitute":  # say plainly what stands in for what
            return f"{self.what} {self.used} instead of {self.published}"
        return f"{self.what} {self.used} (published {self.published})"

    def text(self) -> str:
        """:meth:`short` with the source in front, e.g. ``"segmenter rasalore: epochs 4 (published 200)"``."""
        return f"{self.source}: {self.short()}" if self.source else self.short()

    def key(self) -> tuple[str, ...]:
        """Identity for de-duplication: kind, what and source.

        A modality or data departure is one fact about the run whoever reports it (a plugin and
        the benchmark both may): its identity is what it says, not who says it.
        """
        if self.kind in ("modality", "data"):
            return (self.kind, self.what, self.used, self.published)
        return (self.kind, self.what, self.source)

    def to_dict(self) -> dict[str, str]:
        """Plain data for JSON files."""
        fields = ("kind", "what", "used", "published", "source")
        return {name: getattr(self, name) for name in fields}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Deviation:
        """The inverse of :meth:`to_dict`.

        Raises:
            ContractError: a field is missing or invalid.
        """
        try:
            return cls(
                kind=data["kind"],
                what=str(data["what"]),
                used=str(data["used"]),
                published=str(data["published"]),
                source=str(data.get("source", "")),
            )
        except KeyError as error:
            raise ContractError(f"deviation record {dict(data)!r} lacks {error.args[0]!r}") from None


def as_deviations(value: object, *, source: str = "") -> list[Deviation]:
    """A role object's ``deviations`` attribute as checked records, with ``source`` filled in.

    Accepts :class:`Deviation` records and mappings with their fields (plugins that avoid
    importing the class). ``None`` gives an empty list.

    Raises:
        ContractError: the attribute is not a sequence of deviations, naming ``source``.
    """
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ContractError(f"{source or 'plugin'}: 'deviations' must be a sequence of Deviation, got {value!r:.80}")
    found = []
    for item in value:
        if isinstance(item, Deviation):
            deviation = item
        elif isinstance(item, Mapping):
            deviation = Deviation.from_dict(item)
        else:
            raise ContractError(f"{source or 'plugin'}: deviation {item!r:.80} is not a Deviation")
        if source and not deviation.source:
            deviation = dataclasses.replace(deviation, source=source)
        found.append(deviation)
    return found


def merge_deviations(*groups: Iterable[Deviation]) -> list[Deviation]:
    """All deviations of ``groups``, the first of each :meth:`Deviation.key`, sorted by kind (stable)."""
    seen: dict[tuple[str, ...], Deviation] = {}
    for group in groups:
        for deviation in group:
            seen.setdefault(deviation.key(), deviation)
    return sorted(seen.values(), key=lambda d: _RANK[d.kind])


def describe_deviations(deviations: Sequence[Deviation], *, with_source: bool = False) -> str:
    """One line for a table cell: ``"setting: epochs 4 (published 200); modality: modality flair (published t2)"``.

    With ``with_source`` each record names who reported it:
    ``"setting (segmenter rasalore): epochs 4 (published 200)"``. Empty when there are none.
    """
    parts = []
    for deviation in deviations:
        kind = f"{deviation.kind} ({deviation.source})" if with_source and deviation.source else deviation.kind
        parts.append(f"{kind}: {deviation.short()}")
    return "; ".join(parts)


def outline_deviations(deviations: Sequence[Deviation], *, limit: int = 90) -> str:
    """A compact outline for figure labels: ``"† setting: epochs, preset; modality: flair"``.

    Empty when there are none; cut at about ``limit`` characters with ``…``.
    """
    if not deviations:
        return ""
    by_kind: dict[str, list[str]] = {}
    for deviation in deviations:
        item = deviation.used if deviation.kind == "modality" else deviation.what
        names = by_kind.setdefault(deviation.kind, [])
        if item not in names:
            names.append(item)
    text = "† " + "; ".join(f"{kind}: {', '.join(names)}" for kind, names in by_kind.items())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def setting_deviations(
    options: BaseModel,
    fields: Sequence[str],
    *,
    published: Mapping[str, Any] | None = None,
    kind: DeviationKind = "setting",
) -> list[Deviation]:
    """Deviations for every field of ``options`` whose value differs from the published one.

    Args:
        options: the plugin's validated options.
        fields: the option names that define the published method (not paths, caches or speed knobs).
        published: published values where they differ from the options model's defaults
            (otherwise the default is the published value, as the spec rules require).
        kind: the kind recorded (``"setting"``, or ``"default"`` for choices where wsad's default
            is not the paper's).

    Raises:
        ContractError: a field name is not an option of ``options``.
    """
    model = type(options)
    published = dict(published or {})
    found = []
    for name in fields:
        if name not in model.model_fields:
            raise ContractError(f"{model.__name__} has no option {name!r} to compare with the published setting")
        reference = published[name] if name in published else model.model_fields[name].default
        value = getattr(options, name)
        if value != reference:
            found.append(Deviation(kind=kind, what=name, used=_show(value), published=_show(reference)))
    return found
