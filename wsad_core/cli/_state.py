"""State shared by the subcommands: verbosity and the lazily loaded plugin host."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wsad_core.context import ProgressReporter
from wsad_core.plugins import PluginHost
from wsad_core.progress_log import LoggedProgress

__all__ = ["CliState"]


@dataclass(slots=True)
class CliState:
    """Global options and the plugin host of one ``wsad`` invocation."""

    verbose: int = 0
    quiet: bool = False
    _host: PluginHost | None = field(default=None, repr=False)

    @property
    def host(self) -> PluginHost:
        """The plugin host, loaded on first use."""
        if self._host is None:
            self._host = PluginHost()
        return self._host

    def load_plugin_files(self, paths: tuple[Path, ...]) -> None:
        """Register unpackaged plugins given with ``--plugin-file``."""
        from wsad_core._loading import PluginSource
        from wsad_core.errors import PluginLoadError

        for path in paths:
            try:
                plugin = PluginSource(name=path.stem, target=str(path)).load()
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # SystemExit included: report it as the plugin's failure
                raise PluginLoadError(f"--plugin-file {path}: {type(error).__name__}: {error}") from error
            self.host.register(plugin, name=path.stem)

    def progress(self, enabled: bool = True) -> ProgressReporter:
        """Rich progress bars on a terminal; log lines otherwise (a pipe, a file, ``-q``, ``--no-progress``).

        The log lines reach ``run.log`` in every case and stderr unless ``-q`` is given.
        """
        import sys

        if self.quiet or not enabled or not sys.stderr.isatty():
            return LoggedProgress()
        from wsad_core.cli._progress import RichProgress

        return RichProgress()
