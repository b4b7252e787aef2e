"""Base of the unsupervised reconstruction segmenters (``ae``, ``dae`` of wsad-baselines, the diffusion models).

Both train on the healthy-labelled slices only (``needs_pseudo_masks=False``) through the
core loop :func:`wsad_core.training.train` (checkpoints under ``context.work_dir``,
resume, progress bars, AMP on CUDA only), resize slices to the method's internal square
size, and predict a post-processed, unbounded residual map (``kind="score"``) at the
slice size, 0 outside the brain. Thresholds are the evaluator's job.

A subclass provides the network, optimizer, batches, loss, validation, the per-pixel
residual and the post-processing, and says how its run departs from its paper
(:attr:`ReconstructionSegmenter.deviations`) and how it chose its checkpoint.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from wsad_core import ContractError, Deviation, ScoreMaps, setting_deviations
from wsad_core.reconstruction.data import HealthySlices
from wsad_core.reconstruction.deviations import HEALTHY_COHORT, modality_deviation
from wsad_core.reconstruction.keys import run_key
from wsad_core.reconstruction.resize import batch_to_size, maps_to_size, masks_to_size
from wsad_core.reconstruction.seeding import seeded_global_rng, seeded_init
from wsad_core.training import autocast

if TYPE_CHECKING:
    from wsad_core import BuildContext, MaskSet, SliceSet
    from wsad_core.training import TrainingHistory

__all__ = ["ReconstructionSegmenter"]

_INIT_STREAM, _TRAIN_STREAM = 1, 2


class ReconstructionSegmenter(abc.ABC):
    """Base of reconstruction segmenters (``ae``, ``dae``, the diffusion models).

    Args:
        options: the method's validated options (must have ``image_size`` and
            ``predict_batch_size``).
        context: device, seed, work directory, AMP flag, progress and logger.
    """

    method: ClassVar[str]
    format: ClassVar[str]
    #: Options that define the published method, compared with their defaults (= the published values).
    setting_fields: ClassVar[tuple[str, ...]]
    prediction_fields: ClassVar[frozenset[str]]
    #: The paper trained on a healthy cohort (IXI, CamCAN) rather than on the patients' tumour-free slices.
    healthy_cohort: ClassVar[bool]
    #: The paper's input modalities where the spec states them, else ``None``.
    published_modalities: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, options: Any, context: BuildContext) -> None:
        self.options = options
        self.context = context
        self.model: torch.nn.Module | None = None
        self.history: TrainingHistory | None = None
        self.validated: bool | None = None  # whether healthy validation slices took part; None before fit
        self._modalities: tuple[str, ...] = ()
        self._facts: dict[str, Any] = {}

    @property
    def notes(self) -> tuple[str, ...]:
        """Facts shown with every result that are not deviations: the score as computed."""
        return self.method_notes()

    @property
    def deviations(self) -> list[Deviation]:
        """Every way this run departs from the paper (read after ``fit``; before it, from the options alone)."""
        found = setting_deviations(self.options, self.setting_fields)
        found += self.method_deviations()
        if self.healthy_cohort:
            found.append(HEALTHY_COHORT)
        if self.published_modalities is not None:
            found += modality_deviation(self._modalities, self.published_modalities)
        return found

    @property
    def provenance(self) -> dict[str, Any]:
        """Training facts recorded with the run."""
        postprocess = {name: getattr(self.options, name) for name in sorted(self.prediction_fields)}
        facts = {"method": self.method, "modalities": list(self._modalities), "postprocess": postprocess, **self._facts}
        if self.history is not None:
            facts |= {
                "epochs": self.history.completed,
                "selected_epoch": self.history.selected_epoch,
                "final_train_loss": self.history.train_loss[-1],
                "best_val_loss": self.history.best_val_loss,
                "seconds_per_epoch": self.history.seconds,
            }
        return facts

    # --- subclass hooks -------------------------------------------------------------
    @abc.abstractmethod
    def method_notes(self) -> tuple[str, ...]:
        """The score and post-processing actually used (facts, not deviations)."""

    @abc.abstractmethod
    def method_deviations(self) -> list[Deviation]:
        """Departures beyond :attr:`setting_fields`: defaults, checkpoint selection, epochs."""

    @property
    @abc.abstractmethod
    def checkpoint_selection(self) -> str:
        """How the weights used for prediction were chosen."""

    @abc.abstractmethod
    def build_model(self, in_channels: int) -> torch.nn.Module:
        """The untrained network for ``in_channels`` modalities."""

    # --- helpers for the hooks above --------------------------------------------------
    def _keeps_last_epoch(self) -> bool:
        return self.validated is False or self.options.selection == "last"

    def last_epoch_deviation(self, *, published: str) -> list[Deviation]:
        """The ``selection`` deviation when the last epoch is kept (by option, or for want of validation slices)."""
        if not self._keeps_last_epoch():
            return []
        used = "last epoch" + (" (no healthy validation slices)" if self.validated is False else "")
        return [Deviation(kind="selection", what="checkpoint", used=used, published=published)]

    def kept_checkpoint(self, validation_rule: str) -> str:
        """:attr:`checkpoint_selection` text: ``validation_rule`` or the last epoch, and the epoch kept."""
        rule = "last epoch" if self._keeps_last_epoch() else validation_rule
        return rule + (self.history.kept() if self.history is not None else "")

    @abc.abstractmethod
    def configure(self, model: torch.nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        """Optimizer and scheduler (or ``None``) of ``model``."""

    @abc.abstractmethod
    def epoch_batches(self, data: HealthySlices, epoch: int, generator: torch.Generator) -> Iterable[Any]:
        """One (pseudo-)epoch's training batches, all randomness drawn from ``generator``."""

    @abc.abstractmethod
    def loss(self, model: torch.nn.Module, batch: Any) -> torch.Tensor:
        """Scalar training loss of one batch."""

    @abc.abstractmethod
    def validation(self, model: torch.nn.Module, data: HealthySlices) -> Callable[[], float]:
        """The validation loss over ``data`` (healthy validation slices), as a callable."""

    def run_training(
        self, model: torch.nn.Module, data: HealthySlices, validate: Callable[[], float] | None, checkpoint_dir: Path
    ) -> TrainingHistory:
        """``options.epochs`` epochs of :meth:`epoch_batches` through the core loop (checkpoints, resume).

        Keeps the lowest validation loss when ``options.selection`` is ``"best-validation"`` and there is
        validation data, else the last epoch; the scheduler comes from :meth:`configure`, gradient clipping
        from ``options.grad_clip`` where the options have it. Methods with another loop (early stopping)
        override it.
        """
        from wsad_core.training import train

        options = self.options
        selection = options.selection if validate is not None else "last"
        optimizer, scheduler = self.configure(model)
        return train(
            model=model,
            optimizer=optimizer,
            loss_fn=self.loss,  # (model, batch): DDP-ready under torchrun
            batches=functools.partial(self.epoch_batches, data),
            epochs=options.epochs,
            context=self.context,
            checkpoint_dir=checkpoint_dir,
            scheduler=scheduler,
            validate=validate if selection == "best-validation" else None,
            selection=selection,
            grad_clip=getattr(options, "grad_clip", None),
            description=self.method,
        )

    @abc.abstractmethod
    def residual(self, images: torch.Tensor, reconstruction: torch.Tensor, slices: SliceSet, part: slice) -> np.ndarray:
        """Per-pixel residual ``(B, S, S)`` of one prediction batch (before masking and filtering)."""

    @abc.abstractmethod
    def postprocess(self, residuals: np.ndarray, brain: np.ndarray, slices: SliceSet) -> np.ndarray:
        """Masking and filtering of all residuals ``(N, S, S)`` with the resized brain masks."""

    def prepare(self, slices: SliceSet) -> None:  # noqa: B027 - optional hook
        """Per-call statistics needed by :meth:`residual` (e.g. per-volume quantiles)."""

    def reconstruct(self, model: torch.nn.Module, images: torch.Tensor, part: slice) -> torch.Tensor:
        """The reconstruction of one prediction batch (``part`` of the slices): ``model(images)`` by default.

        Diffusion models override it (noise to a timestep, then denoise).
        """
        del part
        return model(images)

    # --- training -------------------------------------------------------------------
    def fit(
        self,
        train: SliceSet,
        pseudo_masks: MaskSet | None = None,
        *,
        validation: SliceSet | None = None,
        validation_masks: MaskSet | None = None,
    ) -> None:
        """Train on the healthy-labelled slices of ``train``; ``validation``'s healthy slices select/stop.

        Pseudo-masks are ignored: the method is unsupervised.

        Raises:
            DataError: no training slice is labelled healthy.
        """
        del pseudo_masks, validation_masks
        device, size = self.context.torch_device(), self.options.image_size
        data = HealthySlices.select(train, size, device, method=self.method, what="training")
        held = (
            None
            if validation is None
            else HealthySlices.select(validation, size, device, method=self.method, what="validation")
        )
        if held is not None and len(held) == 0:
            held = None
        # Without healthy validation slices there is no selection or stopping: a `selection` deviation.
        self.validated = held is not None
        model = seeded_init(self.context, _INIT_STREAM, lambda: self.build_model(train.images.shape[1]))
        validate = None if held is None else self.validation(model, held)
        checkpoint_dir = self._checkpoint_dir(data, held)
        with seeded_global_rng(self.context, _TRAIN_STREAM):
            self.history = self.run_training(model, data, validate, checkpoint_dir)
        self.model, self._modalities = model, train.modalities
        self._facts = {
            "healthy_train_slices": len(data),
            "healthy_validation_slices": 0 if held is None else len(held),
            "image_size": size,
            "checkpoint_dir": str(checkpoint_dir),
        }

    def _checkpoint_dir(self, data: HealthySlices, held: HealthySlices | None) -> Path:
        training = self.options.model_dump(mode="json", exclude=set(self.prediction_fields))
        parts = [(data.slices, data.index)] + ([] if held is None else [(held.slices, held.index)])
        key = run_key([self.format, training, self.context.seed], parts)
        return Path(self.context.work_dir) / f"{self.method}-{key}"

    # --- prediction -----------------------------------------------------------------
    def predict(self, slices: SliceSet) -> ScoreMaps:
        """Post-processed residual maps ``(N, H, W)`` (``kind="score"``), 0 outside the brain.

        Raises:
            ContractError: called before :meth:`fit`, or with other modalities.
        """
        model = self._fitted(slices)
        device, size, step = self.context.torch_device(), self.options.image_size, self.options.predict_batch_size
        residuals = np.zeros((len(slices), size, size), np.float32)
        brain = np.zeros((len(slices), size, size), bool)
        self.prepare(slices)
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(slices), step):
                part = slice(start, start + step)
                images = batch_to_size(slices.images[part], size, device)
                with autocast(self.context.device, self.context.amp):
                    reconstruction = self.reconstruct(model, images, part)
                residuals[part] = self.residual(images, reconstruction.float(), slices, part)
                brain[part] = masks_to_size(slices.brain_masks[part], size, device)[:, 0].cpu().numpy()
        maps = maps_to_size(self.postprocess(residuals, brain, slices), slices.spatial_shape)
        return ScoreMaps(np.where(slices.brain_masks, maps, 0.0).astype(np.float32), kind="score")

    def reconstruct_slices(self, slices: SliceSet) -> np.ndarray:
        """The reconstructions ``(N, C, H, W)`` float32 of ``slices``, bilinearly back at the slices' size.

        What :meth:`predict` compares the input with, before any residual, masking or filtering: this
        makes every reconstruction segmenter a :class:`~wsad_core.Reconstructor`, the stage I that
        methods such as SADM build through ``BuildContext.stage``. Calls :meth:`prepare` like
        :meth:`predict`, so a diffusion model's test noise is the same as for its maps.

        Raises:
            ContractError: called before :meth:`fit`, or with other modalities.
        """
        model = self._fitted(slices)
        device, size, step = self.context.torch_device(), self.options.image_size, self.options.predict_batch_size
        channels = slices.images.shape[1]
        height, width = slices.spatial_shape
        out = np.zeros((len(slices), channels, height, width), np.float32)
        self.prepare(slices)
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(slices), step):
                part = slice(start, start + step)
                images = batch_to_size(slices.images[part], size, device)
                with autocast(self.context.device, self.context.amp):
                    reconstruction = self.reconstruct(model, images, part).float().cpu().numpy()
                count = reconstruction.shape[0]
                flat = reconstruction.reshape(count * channels, size, size)
                out[part] = maps_to_size(flat, (height, width)).reshape(count, channels, height, width)
        return out

    # --- persistence (wsad predict, wsad export) -------------------------------------------
    #: The options model, to rebuild the segmenter from a saved file.
    options_model: ClassVar[type[Any] | None] = None

    def save(self, path: str | Path) -> Path:
        """The trained weights with the options, modalities and training facts (``weights_only`` loadable).

        Raises:
            ContractError: nothing was trained yet.
        """
        from wsad_core.training import save_weights

        if self.model is None:
            raise ContractError(f"{self.method}: save() called before fit()")
        meta = {
            "format": self.format,
            "options": self.options.model_dump(mode="json"),
            "modalities": list(self._modalities),
            "validated": self.validated,
            "facts": {k: v for k, v in self._facts.items() if isinstance(v, str | int | float | bool | None)},
        }
        return save_weights(path, self.model, meta)

    @classmethod
    def load(cls, path: str | Path, context: BuildContext) -> ReconstructionSegmenter:
        """A segmenter ready to predict, from a file written by :meth:`save`.

        Raises:
            DataError: the file is missing, unreadable or written by another method.
        """
        from wsad_core import DataError
        from wsad_core.training import load_weights, read_checkpoint

        meta = read_checkpoint(path).get("meta") or {}
        if meta.get("format") != cls.format or cls.options_model is None:
            raise DataError(f"{path} is not a {cls.method} weights file", hint=f"write it with {cls.__name__}.save()")
        segmenter = cls(cls.options_model.model_validate(meta["options"]), context)
        segmenter._modalities = tuple(meta["modalities"])
        segmenter.validated = meta.get("validated")
        segmenter._facts = dict(meta.get("facts") or {})
        model = segmenter.build_model(len(segmenter._modalities)).to(context.torch_device())
        load_weights(path, model, map_location=context.torch_device())
        segmenter.model = model
        return segmenter

    def _fitted(self, slices: SliceSet) -> torch.nn.Module:
        if self.model is None:
            raise ContractError(f"{self.method}: predict() called before fit()")
        if slices.modalities != self._modalities:
            raise ContractError(f"{self.method}: trained on modalities {self._modalities}, got {slices.modalities}")
        return self.model
