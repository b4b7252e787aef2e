"""What the core hands a plugin's factory besides its options."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from wsad_core.errors import ContractError

if TYPE_CHECKING:
    import torch

    from wsad_core.data.config import PreprocessConfig
    from wsad_core.specs import Role
    from wsad_core.types import ScoreMaps

__all__ = ["BuildContext", "ProgressReporter", "ProgressTask", "SilentProgress", "StageBuilder"]


class ProgressTask(Protocol):
    """Handle of one running progress bar."""

    def advance(self, steps: int = 1, **fields: Any) -> None:
        """Move forward by ``steps`` and show ``fields`` (e.g. ``loss=0.31``) beside the bar."""


class ProgressReporter(Protocol):
    """Factory of progress bars; the CLI supplies a rich one, tests a silent one."""

    def task(self, description: str, total: int | None) -> Any:
        """A context manager yielding a :class:`ProgressTask`."""


class _SilentTask:
    def advance(self, steps: int = 1, **fields: Any) -> None:
        del steps, fields


class SilentProgress:
    """A :class:`ProgressReporter` that shows nothing."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[ProgressTask]:
        """A bar that is never drawn."""
        del description, total
        yield _SilentTask()


class StageBuilder(Protocol):
    """Builds another registered plugin's object for a plugin that composes stages (``BuildContext.build_stage``).

    ``build_stage(role, name, options)`` validates ``options`` with that plugin's options model and calls its
    factory; ``build_stage(role, name, options, state=path)`` restores a trained object with its spec's
    ``loader`` instead (the file its ``save(path)`` wrote). The object gets a context with the same device,
    seed, AMP flag and progress, and its own work directory ``work_dir / f"stage-{name}"`` (so an interrupted
    inner training resumes there), without the outer stage's validation scorer or learning curve.

    Raises:
        UnknownPluginError: no such plugin.
        ConfigError: invalid ``options``.
        ContractError: ``state`` given for a plugin without a loader, or the object lacks the role's methods.
    """

    def __call__(
        self, role: Role, name: str, options: Mapping[str, Any] | None = None, *, state: Path | None = None
    ) -> Any:
        """The built (or, with ``state``, restored) role object."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildContext:
    """Run-wide settings a plugin's factory receives.

    Attributes:
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, already resolved from ``auto``.
        seed: the run's seed; plugins derive every random stream from it.
        work_dir: a private directory that survives interruption (checkpoints, caches);
            the same directory is handed back when the run is resumed.
        amp: mixed precision is allowed (only ever ``True`` on CUDA).
        deterministic: the user asked for deterministic algorithms.
        progress: where long loops report progress.
        logger: the plugin's logger; messages also go to the run's log file.
        preprocessing: how the run's slices were made (normalisation, size, selection
            rules), so that a plugin can say how its inputs differ from its paper's; ``None``
            outside a run (tests building a plugin directly).
        validation_dice: only for options that reproduce an official protocol which selects
            checkpoints on pixel ground truth (RASALoRE's ``selection=gt-val``): scores maps of
            the ``validation`` slices handed to ``fit`` (same order and frame) against their
            pixel ground truth and returns the per-slice mean Dice at 0.5 over slices with more
            than 200 lesion pixels. The plugin never sees the ground truth itself; once it calls
            this, every row of the run says ``selection=gt-val``. ``None`` without validation
            patients (and outside the segmenter stage).
        learning_curve: report only, ``None`` unless the run asked for learning curves
            (``output.learning_curves``): ``learning_curve(epoch, maps, values)`` takes the maps
            of the same ``validation`` slices after an epoch and the plugin's own numbers
            (e.g. Dice against the validation pseudo-masks); the core scores the maps against
            ground truth and writes the curve. It returns nothing: a plugin cannot select on it.
    """

    device: str = "cpu"
    seed: int = 0
    work_dir: Path
    amp: bool = False
    deterministic: bool = False
    progress: ProgressReporter = field(default_factory=SilentProgress)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("wsad.plugin"))
    preprocessing: PreprocessConfig | None = None
    validation_dice: Callable[[ScoreMaps], float] | None = None
    learning_curve: Callable[[int, ScoreMaps, Mapping[str, float]], None] | None = None
    build_stage: StageBuilder | None = None

    def stage(
        self, role: Role, name: str, options: Mapping[str, Any] | None = None, *, state: Path | None = None
    ) -> Any:
        """Another registered plugin's object, built (or restored from ``state``) through :attr:`build_stage`.

        Raises:
            ContractError: this context has no ``build_stage`` (built by hand, outside the core's helpers).
        """
        if self.build_stage is None:
            raise ContractError(
                f"cannot build {role} {name!r}: this BuildContext has no build_stage",
                hint="build the context with wsad_core.plugins.with_stage_builder(context, host), as wsad run, "
                "wsad predict and the testing fixtures do",
            )
        return self.build_stage(role, name, options, state=state)

    def torch_device(self) -> torch.device:
        """``device`` as a :class:`torch.device`."""
        import torch

        return torch.device(self.device)
