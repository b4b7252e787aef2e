"""The one training loop every plugin uses: seeded batches, AMP, checkpoints, resume, progress.

A plugin supplies its model, optimizer, a ``loss_fn(model, batch) -> scalar tensor`` that
runs the forward pass through the ``model`` it is given (or ``loss_fn(batch)``, which cannot
train on several ranks), and ``batches(epoch, generator)`` that yields the epoch's batches
using only ``generator`` for shuffling and augmentation::

    def batches(epoch, generator):
        return [data[i] for i in minibatch_indices(len(data), 16, generator)]

    history = train(model=net, optimizer=opt, loss_fn=loss, batches=batches, epochs=20,
                    context=context, checkpoint_dir=context.work_dir / "segmenter")

After every epoch ``last.pt`` holds the model, optimizer, scheduler, history and the
global RNG states; calling :func:`train` again with the same ``checkpoint_dir`` continues
from the next epoch and gives, on CPU, bit-identical weights to an uninterrupted run.
A loss that depends on the epoch (warm-up terms) can read it from the batch that
``batches`` builds.

Under ``torchrun`` (see :mod:`wsad_core.distributed`) the model given to ``loss_fn`` is
wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`, rank ``r`` of ``N`` takes
batches ``r, r + N, ...`` of each epoch (every rank the same number), gradients are averaged
across ranks, and only rank 0 writes checkpoints.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from wsad_core import distributed
from wsad_core._atomic import remove_stale_temps
from wsad_core.device import autocast
from wsad_core.errors import ConfigError, ContractError, DataError, NonFiniteLossError
from wsad_core.training._rng import capture_rng_state, epoch_generator, restore_rng_state
from wsad_core.training.checkpoints import load_weights, read_checkpoint, save_checkpoint, save_weights
from wsad_core.training.history import Selection, TrainingHistory

if TYPE_CHECKING:
    from wsad_core.context import BuildContext

__all__ = ["CHECKPOINT_FORMAT", "NonFiniteLossError", "train"]

Batch = TypeVar("Batch")
_Result = TypeVar("_Result")
CHECKPOINT_FORMAT = "wsad-training/1"
_LAST, _BEST = "last.pt", "best.pt"


def train(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.nn.Module, Batch], torch.Tensor] | Callable[[Batch], torch.Tensor],
    batches: Callable[[int, torch.Generator], Iterable[Batch]],
    epochs: int,
    context: BuildContext,
    checkpoint_dir: Path,
    scheduler: Any = None,
    validate: Callable[[], float] | None = None,
    selection: Selection = "last",
    monitor: Callable[[int], Mapping[str, float]] | None = None,
    grad_clip: float | None = None,
    description: str = "training",
) -> TrainingHistory:
    """Train ``model`` for ``epochs`` epochs, resuming from ``checkpoint_dir/last.pt`` if present.

    Args:
        model: the network; moved to ``context.device``; holds the selected epoch's
            weights on return.
        optimizer: optimizer over ``model``'s parameters.
        loss_fn: ``loss_fn(model, batch)`` runs the forward pass through ``model`` (the
            distributed wrapper under torchrun) and returns a scalar loss; the older
            ``loss_fn(batch)`` form works on one rank. Called under bf16 autocast on CUDA
            when ``context.amp`` is set.
        batches: ``batches(epoch, generator)`` yields the epoch's batches; all its
            randomness must come from ``generator`` (seeded from ``(context.seed, epoch)``).
            A sized iterable gives the progress bar a total.
        epochs: number of epochs.
        context: device, seed, AMP flag, progress reporter and logger.
        checkpoint_dir: where ``last.pt`` (and ``best.pt``) live; reuse it to resume.
        scheduler: learning-rate scheduler stepped once per epoch (``ReduceLROnPlateau``
            receives the validation loss, else the training loss).
        validate: returns the validation loss; called after each epoch in eval mode
            without gradients.
        selection: ``"last"`` keeps the final weights; ``"best-validation"`` loads those of
            the epoch with the lowest validation loss.
        monitor: ``monitor(epoch) -> {name: value}`` after each epoch (after ``validate``, in
            eval mode without gradients): learning-curve values recorded in the history and
            the log, never used for selection.
        grad_clip: maximum gradient norm, or ``None``.
        description: progress-bar and log label.

    Returns:
        The run's history.

    Raises:
        ConfigError: invalid ``epochs``/``grad_clip``, ``best-validation`` without
            ``validate``, or a checkpoint with more epochs than requested.
        NonFiniteLossError: a training loss is NaN or infinite.
        ContractError: ``loss_fn`` returned a non-scalar or ``batches`` yielded nothing.
        DataError: ``last.pt`` is unreadable or does not fit the model or optimizer.
    """
    _check_arguments(epochs, selection, validate, grad_clip, description)
    device = context.torch_device()
    model.to(device)
    world = distributed.current()
    forward_model = _parallel(model, loss_fn, device, world, description)
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(checkpoint_dir)
    history = _resume(checkpoint_dir, model, optimizer, scheduler, epochs, description)
    if history is None:
        history = TrainingHistory(epochs=epochs, selection=selection)
    elif history.completed < epochs:
        history.resumed_at.append(history.completed)
        resumed = (description, history.completed + 1, epochs, checkpoint_dir / _LAST)
        context.logger.info("%s: resuming at epoch %d/%d from %s", *resumed)
    history.epochs, history.selection = epochs, selection
    for epoch in range(history.completed, epochs):
        started = time.perf_counter()
        history.learning_rate.append(float(optimizer.param_groups[0]["lr"]))
        train_loss = _run_epoch(
            forward_model, optimizer, loss_fn, batches, epoch, epochs, context, grad_clip, description, world
        )
        history.train_loss.append(train_loss)
        val_loss = None
        if validate is not None:
            val_loss = float(_in_eval(model, validate, context))
            history.val_loss.append(val_loss)
        if monitor is not None:
            values = _in_eval(model, functools.partial(monitor, epoch), context)
            history.monitor.append({str(name): float(value) for name, value in values.items()})
        _step_scheduler(scheduler, val_loss if val_loss is not None else train_loss)
        history.seconds.append(time.perf_counter() - started)
        improved = val_loss is not None and _improves(history, val_loss)
        if improved:
            history.best_epoch = epoch
        history.selected_epoch = epoch
        if world.is_main:
            if improved:
                save_weights(checkpoint_dir / _BEST, model, {"epoch": epoch, "val_loss": val_loss})
            _save_last(checkpoint_dir / _LAST, model, optimizer, scheduler, history, epoch)
        distributed.barrier()
        validation = "" if val_loss is None else f", validation {val_loss:.5f}"
        if history.monitor and len(history.monitor) == epoch + 1:
            validation += "".join(f", {name} {value:.4f}" for name, value in history.monitor[-1].items())
        summary = (description, epoch + 1, epochs, train_loss, validation, history.seconds[-1])
        context.logger.info("%s epoch %d/%d: loss %.5f%s (%.1f s)", *summary)
    _select(checkpoint_dir, model, history, context, description)
    return history


def _check_arguments(
    epochs: int, selection: str, validate: Callable[[], float] | None, grad_clip: float | None, description: str
) -> None:
    if epochs < 1:
        raise ConfigError(f"{description}: epochs must be at least 1, got {epochs}", hint="set epochs >= 1")
    if selection not in ("last", "best-validation"):
        raise ConfigError(f"{description}: unknown selection {selection!r}", hint="use 'last' or 'best-validation'")
    if selection == "best-validation" and validate is None:
        raise ConfigError(
            f"{description}: selection 'best-validation' needs a validation set",
            hint="provide validation data or use selection 'last'",
        )
    if grad_clip is not None and not grad_clip > 0:
        raise ConfigError(f"{description}: grad_clip must be positive, got {grad_clip}", hint="use e.g. 1.0 or None")


def _resume(
    directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, epochs: int, label: str
) -> TrainingHistory | None:
    path = directory / _LAST
    if not path.exists():
        return None
    state = read_checkpoint(path)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise DataError(
            f"{path} is not a wsad training checkpoint (format {state.get('format')!r})",
            hint=f"delete {path} or use another checkpoint directory",
        )
    history = TrainingHistory.from_dict(state["history"])
    if history.completed > epochs:
        raise ConfigError(
            f"{label}: {path} already holds {history.completed} epochs but only {epochs} were requested",
            hint="request at least as many epochs, or use a fresh checkpoint directory",
        )
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise DataError(
            f"{path} does not fit this model or optimizer: {str(error).strip().splitlines()[0]}",
            hint=f"the options changed since it was written; delete {directory} to start over",
        ) from error
    restore_rng_state(state["rng"])
    return history


def _takes_model(loss_fn: Callable[..., torch.Tensor]) -> bool:
    try:
        parameters = inspect.signature(loss_fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2


def _parallel(
    model: torch.nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    device: torch.device,
    world: distributed.World,
    description: str,
) -> torch.nn.Module:
    """The model ``loss_fn`` runs: ``model``, or its DistributedDataParallel wrapper under torchrun."""
    if not world.distributed:
        return model
    if not _takes_model(loss_fn):
        raise ContractError(
            f"{description}: loss_fn(batch) cannot train on {world.size} ranks",
            hint="write loss_fn(model, batch) and run the forward pass through the model it receives",
        )
    distributed.ensure_initialised(str(device))
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _my_batches(
    epoch_batches: Iterable[Any], world: distributed.World, description: str
) -> tuple[Iterable[Any], int | None]:
    """The batches of the current rank and their count: every ``size``-th, the same count on every rank."""
    total = len(epoch_batches) if isinstance(epoch_batches, Sized) else None
    if not world.distributed:
        return epoch_batches, total
    if total is None:
        raise ContractError(f"{description}: batches() must return a sized collection to train on several ranks")
    steps = total // world.size
    if steps == 0:
        raise ContractError(f"{description}: {total} batches cannot be shared by {world.size} ranks")
    return itertools.islice(epoch_batches, world.rank, steps * world.size, world.size), steps


def _run_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[..., torch.Tensor],
    batches: Callable[[int, torch.Generator], Iterable[Any]],
    epoch: int,
    epochs: int,
    context: BuildContext,
    grad_clip: float | None,
    description: str,
    world: distributed.World,
) -> float:
    model.train()
    epoch_batches, total = _my_batches(batches(epoch, epoch_generator(context.seed, epoch)), world, description)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    takes_model = _takes_model(loss_fn)
    losses: list[float] = []
    with context.progress.task(f"{description} {epoch + 1}/{epochs}", total=total) as task:
        for step, batch in enumerate(epoch_batches):
            optimizer.zero_grad(set_to_none=True)
            with autocast(context.device, context.amp):
                loss = loss_fn(model, batch) if takes_model else loss_fn(batch)
            if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
                raise ContractError(f"{description}: loss_fn must return a scalar tensor, got {_describe(loss)}")
            value = float(loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"{description}: loss is {value} at epoch {epoch + 1}/{epochs}, step {step + 1}",
                    hint="lower the learning rate, set grad_clip, or check the inputs for NaN",
                )
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
            optimizer.step()
            losses.append(value)
            task.advance(1, loss=round(sum(losses) / len(losses), 5))
    if not losses:
        raise ContractError(f"{description}: batches() yielded no batch for epoch {epoch + 1}")
    return _mean_over_ranks(sum(losses) / len(losses), world)


def _mean_over_ranks(value: float, world: distributed.World) -> float:
    """The epoch loss averaged over ranks, so every rank records the same history."""
    if not world.distributed:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return float(tensor.item()) / world.size


def _describe(value: object) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {tuple(shape)}" if shape is not None else type(value).__name__


def _in_eval(model: torch.nn.Module, fn: Callable[[], _Result], context: BuildContext) -> _Result:
    """``fn()`` with the model in eval mode, without gradients, under the run's autocast; then train mode again."""
    model.eval()
    try:
        with torch.no_grad(), autocast(context.device, context.amp):
            return fn()
    finally:
        model.train()


def _step_scheduler(scheduler: Any, metric: float) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    else:
        scheduler.step()


def _improves(history: TrainingHistory, val_loss: float) -> bool:
    if not math.isfinite(val_loss):
        return False
    best = history.best_val_loss
    return best is None or val_loss < best


def _save_last(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    history: TrainingHistory,
    epoch: int,
) -> None:
    save_checkpoint(
        path,
        {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "history": history.to_dict(),
            "rng": capture_rng_state(),
        },
    )


def _select(
    directory: Path, model: torch.nn.Module, history: TrainingHistory, context: BuildContext, label: str
) -> None:
    history.selected_epoch = history.completed - 1
    if history.selection != "best-validation":
        return
    if history.best_epoch is None:
        context.logger.warning("%s: no finite validation loss; keeping the last epoch's weights", label)
        return
    load_weights(directory / _BEST, model, map_location=context.torch_device())
    history.selected_epoch = history.best_epoch
