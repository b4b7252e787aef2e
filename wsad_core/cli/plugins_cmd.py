"""``wsad plugins``: what is installed, what it provides, and what is broken and why."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from wsad_core.cli._logging import verbosity_options
from wsad_core.cli._state import CliState
from wsad_core.errors import ConfigError, UnknownPluginError
from wsad_core.plugins import ROLES, PluginHost
from wsad_core.specs import PluginSpec

__all__ = ["plugins", "plugins_report"]


def _spec_report(host: PluginHost, spec: PluginSpec) -> dict[str, Any]:
    report: dict[str, Any] = {
        "role": spec.role,
        "name": spec.name,
        "version": spec.version,
        "summary": spec.summary,
        "reference_baseline": spec.reference,
        "citation": spec.citation,
        "license": spec.license,
        "provided_by": host.providers(spec.role, spec.name),
        "io": asdict(spec.io),
        "options": spec.options.model_json_schema(),
    }
    for extra in ("needs_pseudo_masks", "accepts_pseudo_masks", "label", "headline"):
        if hasattr(spec, extra):
            report[extra] = getattr(spec, extra)
    if spec.weights is not None:
        try:
            status = spec.weights.status(spec.options())
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # plugin code: even its SystemExit must not end the listing
            status = f"unknown ({type(error).__name__}: {error})"
        report["weights"] = {
            "description": spec.weights.description,
            "source": spec.weights.source,
            "option": spec.weights.option,
            "env_var": spec.weights.env_var,
            "status": status,
        }
    return report


def plugins_report(host: PluginHost) -> dict[str, Any]:
    """Plugins (with state and error) and every registered spec, as plain data."""
    return {
        "plugins": [asdict(status) for status in host.statuses()],
        "specs": [_spec_report(host, spec) for role in ROLES for spec in host.specs(role).values()],
    }


def _find_spec(host: PluginHost, name: str) -> PluginSpec:
    role, _, bare = name.rpartition(":")
    roles = [role] if role else list(ROLES)
    found = [host.specs(r)[bare] for r in roles if r in ROLES and bare in host.specs(r)]  # type: ignore[index]
    if not found:
        raise UnknownPluginError(f"no plugin named {name!r}", hint="run `wsad plugins` to list what is installed")
    if len(found) > 1:
        raise ConfigError(
            f"{bare!r} names a {' and a '.join(s.role for s in found)}",
            hint=f"qualify it, e.g. --options {found[0].role}:{bare}",
        )
    return found[0]


def _print_options(spec: PluginSpec, console: Console) -> None:
    table = Table(title=f"{spec.role} {spec.name} — options", title_justify="left")
    for column in ("option", "type", "default", "description"):
        table.add_column(column)
    for name, field in spec.options.model_fields.items():
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation).replace("typing.", "")
        default = "(required)" if field.is_required() else repr(field.get_default(call_default_factory=True))
        table.add_row(name, annotation, default, field.description or "")
    console.print(table)


@click.command()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Machine-readable output: plugins, states, errors, specs, IO contracts, weights status and option schemas.",
)
@click.option("--options", "options_of", metavar="[ROLE:]NAME", help="Show the options of one plugin.")
@click.option(
    "--requirements",
    is_flag=True,
    help="Print name==version of every plugin distribution (to reinstall them after an upgrade).",
)
@click.pass_obj
@verbosity_options
def plugins(state: CliState, as_json: bool, options_of: str | None, requirements: bool) -> None:
    """List installed plugins, what each provides, and why a broken one failed."""
    host, console = state.host, Console()
    if options_of:
        _print_options(_find_spec(host, options_of), console)
        return
    if requirements:
        dists = sorted({(s.dist, s.version) for s in host.statuses() if s.dist})
        click.echo("\n".join(f"{dist}=={version}" for dist, version in dists))
        return
    if as_json:
        click.echo(json.dumps(plugins_report(host), indent=2, default=str))
        return
    table = Table(title="wsad plugins", title_justify="left")
    for column in ("plugin", "distribution", "state", "provides"):
        table.add_column(column)
    for status in host.statuses():
        provides = "; ".join(f"{role}: {', '.join(names)}" for role, names in status.specs.items())
        state_text = {"ok": "[green]ok[/]", "blocked": "[yellow]blocked[/]"}.get(status.state, "[red]failed[/]")
        if status.error:
            provides = "[red]see below[/]"
        elif status.state == "ok" and not status.specs:
            provides = "[dim]nothing (yet)[/]"
        dist = f"{status.dist} {status.version}".strip() or status.target
        table.add_row(status.name, dist, state_text, provides)
    console.print(table)
    for status in host.statuses():
        if status.error:
            console.print(f"[red]{status.name} failed:[/] ", end="", highlight=False)
            console.print(status.error, markup=False, highlight=False, soft_wrap=True)
    console.print("details: wsad plugins --options NAME · wsad plugins --json")
