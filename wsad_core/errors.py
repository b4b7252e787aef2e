"""Exceptions raised by wsad.

Every error the user can cause derives from :class:`WsadError`, whose ``hint`` tells
how to fix it; the CLI prints ``message`` and ``hint`` on one line each and shows a
traceback only with ``-v``::

    WsadError
    ├── PluginError
    │   ├── PluginLoadError         a plugin failed to import or to register
    │   ├── PluginConflictError     two plugins registered the same name for one role
    │   └── UnknownPluginError      no plugin of that name (with close-match suggestions)
    ├── ConfigError                 an option is unknown, of the wrong type or out of range
    ├── ContractError               a plugin's output, or a pairing of plugins, breaks the IO contract
    ├── DataError                   a missing, corrupt or inconsistent input file
    ├── WeightsNotFoundError        pretrained weights are not available locally
    ├── NonFiniteLossError          training diverged (NaN or infinite loss)
    └── RunDirectoryError           the output directory cannot be used (exists, other config)
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ContractError",
    "DataError",
    "NonFiniteLossError",
    "PluginConflictError",
    "PluginError",
    "PluginLoadError",
    "RunDirectoryError",
    "UnknownPluginError",
    "WeightsNotFoundError",
    "WsadError",
]


class WsadError(Exception):
    """Base class of every error wsad raises on purpose.

    Args:
        message: What went wrong, naming the file, option or plugin concerned.
        hint: What the user can do about it (one sentence), or ``""``.
    """

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class PluginError(WsadError):
    """Base class of errors about plugins."""


class PluginLoadError(PluginError):
    """A plugin could not be imported or its registration hook failed."""


class PluginConflictError(PluginError):
    """Two plugins registered the same name for the same role."""


class UnknownPluginError(PluginError):
    """No plugin with the requested name is registered for the role."""


class ConfigError(WsadError):
    """A configuration value or plugin option is invalid."""


class ContractError(WsadError):
    """Data or plugin outputs violate the declared input/output contract."""


class DataError(WsadError):
    """An input file is missing, unreadable or inconsistent with its siblings."""


class WeightsNotFoundError(WsadError):
    """Pretrained weights a plugin needs are not available on this machine."""


class NonFiniteLossError(WsadError):
    """The training loss became NaN or infinite (usually a learning rate that is too high)."""


class RunDirectoryError(WsadError):
    """The run directory cannot be created, resumed or written."""
