"""PluginHost: the typed facade over pluggy that the rest of the core goes through.

Each plugin is imported, registered and asked for its specs on its own: one that fails
is recorded with its error and the others keep working. Environment controls:

* ``WSAD_DISABLE_PLUGINS=a,b`` blocks those plugins (``wsad plugins`` shows them as blocked).
* ``WSAD_PLUGINS_PATH`` adds plugins from module names or ``.py`` files (``os.pathsep``-separated).
* ``WSAD_STRICT_PLUGINS=1`` turns any plugin failure into an immediate error.

A plugin that raises ``SystemExit`` (or any other ``BaseException``) while it is imported,
registered or notified is isolated like one that raises an ``Exception``; only
``KeyboardInterrupt`` goes through, so that Ctrl-C still stops the command.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pluggy
from pydantic import BaseModel, ValidationError

from wsad_core import hookspecs
from wsad_core._loading import PluginSource, discover, env_list
from wsad_core.errors import ConfigError, ContractError, PluginConflictError, PluginLoadError, UnknownPluginError
from wsad_core.roles import Evaluator, PseudoMaskGenerator, Refiner, Segmenter
from wsad_core.specs import DatasetSpec, EvaluatorSpec, GeneratorSpec, PluginSpec, RefinerSpec, Role, SegmenterSpec

if TYPE_CHECKING:
    import click

    from wsad_core.context import BuildContext
    from wsad_core.types import RunInfo, RunOutcome

__all__ = ["ROLES", "PluginHost", "PluginStatus", "with_stage_builder"]

log = logging.getLogger("wsad.plugins")

ROLES: dict[Role, tuple[str, type[PluginSpec]]] = {
    "generator": ("wsad_register_generators", GeneratorSpec),
    "refiner": ("wsad_register_refiners", RefinerSpec),
    "segmenter": ("wsad_register_segmenters", SegmenterSpec),
    "evaluator": ("wsad_register_evaluators", EvaluatorSpec),
    "dataset": ("wsad_register_datasets", DatasetSpec),
}
_PROTOCOLS: dict[Role, type] = {
    "generator": PseudoMaskGenerator,
    "refiner": Refiner,
    "segmenter": Segmenter,
    "evaluator": Evaluator,
}


@dataclass(slots=True)
class PluginStatus:
    """What ``wsad plugins`` reports about one plugin.

    Attributes:
        name: entry-point (or path) name.
        target: what was imported.
        dist: providing distribution (``""`` for path plugins).
        version: the distribution's version.
        state: ``ok``, ``failed`` or ``blocked``.
        error: ``"Type: message"`` for failed plugins.
        specs: names registered per role.
    """

    name: str
    target: str
    dist: str = ""
    version: str = ""
    state: Literal["ok", "failed", "blocked"] = "ok"
    error: str | None = None
    specs: dict[str, list[str]] = field(default_factory=dict)


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class PluginHost:
    """Loads plugins and gives typed access to their specs.

    Args:
        entry_points: load the ``wsad`` entry-point group (``False`` in isolated tests).
        disabled: plugin names to block; defaults to ``WSAD_DISABLE_PLUGINS``.
        strict: raise on the first failing plugin; defaults to ``WSAD_STRICT_PLUGINS``.
    """

    def __init__(
        self,
        *,
        entry_points: bool = True,
        disabled: Iterable[str] | None = None,
        strict: bool | None = None,
    ) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._disabled = set(env_list("WSAD_DISABLE_PLUGINS") if disabled is None else disabled)
        self._strict = os.environ.get("WSAD_STRICT_PLUGINS", "") not in ("", "0") if strict is None else strict
        self._status: dict[str, PluginStatus] = {}
        self._specs: dict[Role, dict[str, PluginSpec]] = {role: {} for role in ROLES}
        self._providers: dict[tuple[Role, str], list[str]] = {}
        for source in discover(entry_points=entry_points):
            self._load(source)

    # -- loading ---------------------------------------------------------------------
    def _load(self, source: PluginSource) -> None:
        status = PluginStatus(source.name, source.target, source.dist, source.version)
        self._status[source.name] = status
        if source.name in self._disabled:
            status.state = "blocked"
            self._pm.set_blocked(source.name)
            return
        try:
            self._register_object(source.load(), status)
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # SystemExit at import must not end every command
            self._fail(status, error)

    def register(self, plugin: object, name: str, *, dist: str = "", version: str = "") -> PluginStatus:
        """Register an already imported plugin object (tests, ``--plugin-file``).

        Raises:
            PluginLoadError: if the plugin is malformed (also recorded in :meth:`statuses`).
        """
        status = PluginStatus(name, repr(plugin), dist, version)
        self._status[name] = status
        try:
            self._register_object(plugin, status)
        except KeyboardInterrupt:
            raise
        except BaseException as error:
            self._fail(status, error, raise_always=True)
        return status

    def unregister(self, name: str) -> None:
        """Remove a plugin and everything it registered."""
        if self._pm.get_plugin(name) is not None:
            self._pm.unregister(name=name)
        self._status.pop(name, None)
        for (role, spec_name), providers in list(self._providers.items()):
            if name not in providers:
                continue
            providers.remove(name)
            if not providers:
                del self._providers[(role, spec_name)]
                del self._specs[role][spec_name]

    def _register_object(self, plugin: object, status: PluginStatus) -> None:
        self._pm.register(plugin, name=status.name)
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as error:
            self._pm.unregister(name=status.name)
            known = [name for name in dir(hookspecs) if name.startswith("wsad_")]
            bad = [n for n in dir(plugin) if n.startswith("wsad_") and n not in known]
            hint = "; ".join(f"{n!r}: did you mean {difflib.get_close_matches(n, known, 1) or known}?" for n in bad)
            raise PluginLoadError(f"{error} {hint}".strip()) from error
        collected: dict[Role, list[PluginSpec]] = {}
        for role, (hook_name, spec_type) in ROLES.items():
            specs: list[PluginSpec] = []
            for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name != status.name:
                    continue
                for spec in impl.function() or ():
                    if not isinstance(spec, spec_type):
                        got, expected = type(spec).__name__, spec_type.__name__
                        raise PluginLoadError(f"{hook_name} returned {got}, expected {expected}")
                    spec.validate()
                    specs.append(spec)
            collected[role] = specs
        for role, specs in collected.items():
            for spec in specs:
                if not spec.version and status.version:
                    spec = dataclasses.replace(spec, version=status.version)
                self._specs[role].setdefault(spec.name, spec)
                self._providers.setdefault((role, spec.name), []).append(status.name)
            if specs:
                status.specs[role] = sorted(s.name for s in specs)

    def _fail(self, status: PluginStatus, error: BaseException, *, raise_always: bool = False) -> None:
        status.state = "failed"
        status.error = _describe(error)
        if self._pm.get_plugin(status.name) is not None:
            self._pm.unregister(name=status.name)
        log.warning("plugin %s failed to load: %s", status.name, status.error)
        if self._strict or raise_always:
            raise PluginLoadError(
                f"plugin {status.name!r} ({status.dist or status.target}) failed: {status.error}",
                hint="fix or uninstall the plugin, or set WSAD_DISABLE_PLUGINS=" + status.name,
            ) from error

    # -- queries ---------------------------------------------------------------------
    def statuses(self) -> list[PluginStatus]:
        """Every plugin seen, sorted by name, with its state and error."""
        return [self._status[name] for name in sorted(self._status)]

    def specs(self, role: Role) -> dict[str, PluginSpec]:
        """Specs registered for ``role``, sorted by name."""
        return dict(sorted(self._specs[role].items()))

    def providers(self, role: Role, name: str) -> list[str]:
        """Plugins that registered ``name`` for ``role`` (more than one is a conflict)."""
        return list(self._providers.get((role, name), []))

    def get(self, role: Role, name: str) -> PluginSpec:
        """The spec called ``name`` for ``role``.

        Raises:
            UnknownPluginError: no such name (the message suggests close matches and
                mentions failed plugins of that name).
            PluginConflictError: more than one plugin registered the name.
        """
        providers = self.providers(role, name)
        if len(providers) > 1:
            dists = ", ".join(f"{p} ({self._status[p].dist or 'path'})" for p in providers)
            raise PluginConflictError(
                f"conflicting {role} plugins named {name!r}: {dists}",
                hint="uninstall one of them or block it with WSAD_DISABLE_PLUGINS",
            )
        if not providers:
            known = list(self.specs(role))
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "run `wsad plugins` to list what is installed"
            broken = self._status.get(name)
            if broken is not None and broken.state != "ok":
                hint = f"plugin {name!r} is {broken.state}" + (f": {broken.error}" if broken.error else "")
            else:
                unavailable = [f"{s.name} ({s.state})" for s in self.statuses() if s.state != "ok"]
                if unavailable:
                    hint += f"; not loaded: {', '.join(unavailable)} (see `wsad plugins`)"
            raise UnknownPluginError(f"no {role} named {name!r}; installed: {', '.join(known) or 'none'}", hint=hint)
        return self._specs[role][name]

    def validate_options(self, role: Role, name: str, options: Mapping[str, Any] | None = None) -> BaseModel:
        """Options for ``name`` validated by its options model.

        Raises:
            ConfigError: naming the plugin, the bad keys or values, and the valid keys.
        """
        spec = self.get(role, name)
        try:
            return spec.options.model_validate(dict(options or {}))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(options)'}: {e['msg']}" for e in error.errors()
            )
            valid = ", ".join(spec.options.model_fields) or "none"
            raise ConfigError(
                f"invalid options for {role} {name!r}: {problems}",
                hint=f"valid options: {valid}; see `wsad plugins --options {name}`",
            ) from None

    def create(
        self, role: Role, name: str, options: Mapping[str, Any] | BaseModel | None, context: BuildContext
    ) -> Any:
        """Build the object for ``name`` with validated options.

        Raises:
            ContractError: the factory returned an object lacking the role's methods.
        """
        spec = self.get(role, name)
        validated = options if isinstance(options, BaseModel) else self.validate_options(role, name, options)
        instance = spec.factory(validated, context)
        protocol = _PROTOCOLS.get(role)
        if protocol is not None and not isinstance(instance, protocol):
            raise ContractError(
                f"{role} {name!r} factory returned {type(instance).__name__}, "
                f"which lacks the {protocol.__name__} methods"
            )
        return instance

    # -- typed hook calls --------------------------------------------------------------
    def _notify(self, hook_name: str, **kwargs: Any) -> None:
        for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # an observer's SystemExit must not end the run
                log.warning("plugin %s failed in %s: %s", impl.plugin_name, hook_name, _describe(error))

    def register_commands(self, cli: click.Group) -> None:
        """Let plugins add subcommands to ``cli``."""
        self._notify("wsad_register_commands", cli=cli)

    def run_started(self, run: RunInfo) -> None:
        """Tell observers a run started."""
        self._notify("wsad_run_started", run=run)

    def run_finished(self, outcome: RunOutcome) -> None:
        """Tell observers a run ended."""
        self._notify("wsad_run_finished", outcome=outcome)


class _StageBuilder:
    """The :class:`~wsad_core.context.StageBuilder` that :func:`with_stage_builder` puts into a context."""

    def __init__(self, host: PluginHost | Callable[[], PluginHost], parent: BuildContext) -> None:
        self._host, self._parent = host, parent

    def _resolve(self) -> PluginHost:
        # A factory is called on first use only: test fixtures must not load every plugin for contexts
        # whose plugin never builds another one.
        if not isinstance(self._host, PluginHost):
            self._host = self._host()
        return self._host

    def __call__(
        self, role: Role, name: str, options: Mapping[str, Any] | None = None, *, state: Path | None = None
    ) -> Any:
        host = self._resolve()
        work_dir = Path(self._parent.work_dir) / f"stage-{name}"
        work_dir.mkdir(parents=True, exist_ok=True)
        # The outer stage's validation scorer and learning curve describe its own maps, not the inner stage's.
        inner = dataclasses.replace(
            self._parent,
            work_dir=work_dir,
            logger=self._parent.logger.getChild(f"stage-{name}"),
            validation_dice=None,
            learning_curve=None,
            build_stage=None,
        )
        inner = with_stage_builder(inner, host)
        if state is None:
            return host.create(role, name, options, inner)
        spec = host.get(role, name)
        if spec.loader is None:
            raise ContractError(
                f"{role} {name!r} cannot be restored from {state}: its plugin declares no loader",
                hint="compose stages whose specs have a loader, or rebuild the stage from its options",
            )
        return spec.loader(Path(state), inner)


def with_stage_builder(context: BuildContext, host: PluginHost | Callable[[], PluginHost]) -> BuildContext:
    """``context`` whose ``build_stage`` builds other plugins registered with ``host`` (or ``host()``, on first use).

    The built objects get the same device, seed, AMP flag and progress, their own work directory
    ``context.work_dir / f"stage-{name}"``, and a ``build_stage`` of their own.
    """
    return dataclasses.replace(context, build_stage=_StageBuilder(host, dataclasses.replace(context, build_stage=None)))
