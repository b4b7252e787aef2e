"""Console logging of the CLI, and ``-v``/``-q`` accepted before or after the subcommand."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.logging import RichHandler

from wsad_core.cli._state import CliState

__all__ = ["configure_logging", "stderr", "verbosity_options"]

stderr = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def configure_logging(verbose: int, quiet: bool) -> None:
    """Log to stderr at the level ``-v``/``-q`` ask for (INFO by default)."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = RichHandler(console=stderr, show_path=False, show_time=False, markup=False)
    # The handler keeps the console's level even while a run lowers the logger's for its run.log.
    handler.setLevel(level)
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)
    logging.getLogger("wsad").setLevel(level)


def _after(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        state = ctx.ensure_object(CliState)
        if param.name == "verbose_after":
            state.verbose += int(value)
        else:
            state.quiet = True
        configure_logging(state.verbose, state.quiet)
    return value


def verbosity_options(command: F) -> F:
    """``-v``/``-q`` on a subcommand, the same as before it: ``wsad run … -v`` = ``wsad -v run …``."""
    command = click.option(
        "-q", "--quiet", "quiet_after", is_flag=True, expose_value=False, callback=_after,
        help="Only errors and the final result (also accepted before the subcommand).",
    )(command)  # fmt: skip
    return click.option(
        "-v", "--verbose", "verbose_after", count=True, expose_value=False, callback=_after,
        help="More logging, -vv for debug; tracebacks on errors (also accepted before the subcommand).",
    )(command)  # fmt: skip
