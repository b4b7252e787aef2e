"""The ``wsad`` command line.

Errors print as one line plus a hint; ``-v`` adds the traceback. Plugins can add
subcommands through the ``wsad_register_commands`` hook.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from wsad_core._version import __version__
from wsad_core.cli._logging import configure_logging, stderr
from wsad_core.cli._oserrors import describe_os_error
from wsad_core.cli._state import CliState
from wsad_core.cli.bench_cmd import bench
from wsad_core.cli.data_cmd import data
from wsad_core.cli.eval_cmd import eval_command
from wsad_core.cli.plugins_cmd import plugins
from wsad_core.cli.predict_cmd import export_command, predict_command
from wsad_core.cli.report_cmd import report
from wsad_core.cli.run_cmd import run
from wsad_core.errors import WsadError

__all__ = ["cli", "main"]

_stderr = stderr


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="wsad")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug); show tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the final result; no progress bars.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Weakly supervised anomaly detection in medical images.

    \b
    Typical use:
      wsad run --generator zscore --segmenter unet            # embedded demo data
      wsad run --generator ddpt --segmenter rasalore --data /data/BraTS2020
      wsad plugins                                             # what is installed
    """
    state: CliState = ctx.ensure_object(CliState)
    state.verbose, state.quiet = verbose, quiet
    configure_logging(verbose, quiet)


cli.add_command(run)
cli.add_command(bench)
cli.add_command(plugins)
cli.add_command(data)
cli.add_command(eval_command)
cli.add_command(report)
cli.add_command(predict_command)
cli.add_command(export_command)


def _report(message: str, hint: str = "") -> None:
    _stderr.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    if hint:
        _stderr.print(f"[yellow]hint:[/] {hint}", highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wsad`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("-v", "--verbose") or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in args)
    state = CliState()
    try:
        state.host.register_commands(cli)
        code = cli.main(args=args, prog_name="wsad", standalone_mode=False, obj=state)
        # Without standalone mode click returns, not raises, the code of a command's ctx.exit(n) / Exit(n).
        return code if type(code) is int else 0
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        _report("interrupted", "finished stages are kept; continue with the same command plus --resume --out DIR")
        return 130
    except WsadError as error:
        if verbose:
            traceback.print_exc()
        _report(error.message, error.hint)
        return 1
    except OSError as error:  # disk full, read-only or vanished folders: the user's to fix, not a bug
        if verbose:
            traceback.print_exc()
        _report(*describe_os_error(error))
        return 1
    except Exception as error:
        if verbose:
            traceback.print_exc()
        _report(f"unexpected {type(error).__name__}: {error}", "run again with -v for the traceback and report it")
        return 1
