"""``unet``: a small 2-D U-Net trained on pseudo-masks (reference baseline).

Training uses the core loop (:func:`wsad_core.training.train`): Adam, BCE + soft Dice,
left-right flips, one checkpoint per epoch under ``context.work_dir`` so an interrupted
run resumes, and model selection on the last epoch or on the validation slices'
pseudo-masks (never ground truth). Prediction returns sigmoid probabilities.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from wsad_baselines._unet_data import EpochBatches, TrainingSlices, segmentation_loss
from wsad_baselines.config import UNetOptions
from wsad_baselines.torch_model import ReferenceUNet
from wsad_core import ConfigError, ContractError, DataError, ScoreMaps
from wsad_core.reconstruction.keys import hash_slices
from wsad_core.training import (
    AugmentConfig,
    autocast,
    derive_seed,
    load_weights,
    mean_slice_dice,
    read_checkpoint,
    save_weights,
    train,
)

if TYPE_CHECKING:
    from wsad_core import BuildContext, MaskSet, SliceSet
    from wsad_core.training import TrainingHistory

__all__ = ["UNetSegmenter"]

_FORMAT = "wsad-baselines.unet/1"
_INIT_STREAM = 1  # derive_seed key of the weight initialisation


class UNetSegmenter:
    """Small MONAI U-Net segmenter trained on pseudo-masks (reference baseline).

    Args:
        options: validated :class:`~wsad_baselines.config.UNetOptions`.
        context: device, seed, work directory (checkpoints), AMP flag, progress and logger.
    """

    notes: tuple[str, ...] = ("reference baseline (small MONAI U-Net on pseudo-masks), not a published method",)

    def __init__(self, options: UNetOptions, context: BuildContext) -> None:
        self.options = options
        self.context = context
        self.model: ReferenceUNet | None = None
        self.history: TrainingHistory | None = None
        self._modalities: tuple[str, ...] = ()
        self._facts: dict[str, Any] = {}

    @property
    def checkpoint_selection(self) -> str:
        """The weights used for prediction: the last epoch's, or the lowest loss on the validation pseudo-masks."""
        if self.options.selection == "best-validation":
            rule = "lowest loss on the validation slices' pseudo-masks"
        else:
            rule = "last epoch"
        if self.history is not None:
            rule += self.history.kept()
        return rule

    @property
    def provenance(self) -> dict[str, Any]:
        """Training facts recorded with the run."""
        facts = {"method": "unet", "modalities": list(self._modalities), **self._facts}
        if self.history is not None:
            facts |= {
                "epochs": self.history.completed,
                "selected_epoch": self.history.selected_epoch,
                "final_train_loss": self.history.train_loss[-1],
                "seconds_per_epoch": self.history.seconds,
            }
        return facts

    def _build(self, in_channels: int) -> ReferenceUNet:
        # A private CPU stream: initialisation depends on the seed only, not on what ran before.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.context.seed, _INIT_STREAM))
            model = ReferenceUNet(in_channels, self.options.channels, self.options.num_res_units)
        return model.to(self.context.torch_device())

    def fit(
        self,
        train_slices: SliceSet,
        pseudo_masks: MaskSet | None,
        *,
        validation: SliceSet | None = None,
        validation_masks: MaskSet | None = None,
    ) -> None:
        """Train on ``pseudo_masks`` (resuming from ``context.work_dir`` when possible).

        Raises:
            ContractError: ``pseudo_masks`` is missing or does not match the slices.
            ConfigError: ``selection='best-validation'`` without validation slices and masks.
            DataError: no slice to train on.
        """
        if pseudo_masks is None:
            raise ContractError("unet: fit() needs pseudo-masks (the segmenter declares needs_pseudo_masks=True)")
        options = self.options
        data = TrainingSlices.select(
            train_slices, pseudo_masks, include_healthy=options.include_healthy_slices, what="training"
        )
        held_out = None
        if options.selection == "best-validation":
            if validation is None or validation_masks is None or len(validation) == 0:
                raise ConfigError(
                    "unet: selection 'best-validation' needs validation slices with pseudo-masks",
                    hint="configure a validation split or set selection=last",
                )
            held_out = TrainingSlices.select(
                validation, validation_masks, include_healthy=options.include_healthy_slices, what="validation"
            )
        model = self._build(train_slices.images.shape[1])
        device = self.context.torch_device()
        optimizer = torch.optim.Adam(model.parameters(), lr=options.learning_rate)
        augment = AugmentConfig(hflip_p=options.hflip_p, vflip_p=options.vflip_p)

        def batches(epoch: int, generator: torch.Generator) -> EpochBatches:
            del epoch
            return EpochBatches(data, options.batch_size, generator, augment)

        # Forward through the model it is given: under torchrun that is the DDP wrapper.
        def loss_fn(net: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            images, targets = batch
            return segmentation_loss(net(images.to(device)), targets.to(device), options.dice_weight)

        def validate(held: TrainingSlices) -> float:
            total = 0.0
            for images, targets in EpochBatches(held, options.predict_batch_size, torch.Generator(), None):
                total += float(loss_fn(model, (images, targets))) * len(images)
            return total / len(held)

        monitor = None
        if self.context.learning_curve is not None and validation is not None and len(validation):
            monitor = functools.partial(self._monitor, model, validation, validation_masks)
        checkpoint_dir = self._checkpoint_dir(data, held_out)
        self.history = train(
            model=model,
            optimizer=optimizer,
            loss_fn=loss_fn,
            batches=batches,
            epochs=options.epochs,
            context=self.context,
            checkpoint_dir=checkpoint_dir,
            validate=None if held_out is None else functools.partial(validate, held_out),
            selection=options.selection,
            monitor=monitor,
            description="unet",
        )
        self.model, self._modalities = model, train_slices.modalities
        self._facts = {
            "train_slices": len(data),
            "healthy_train_slices": data.healthy,
            "checkpoint_dir": str(checkpoint_dir),
        }

    def _monitor(
        self, model: ReferenceUNet, validation: SliceSet, masks: MaskSet | None, epoch: int
    ) -> dict[str, float]:
        """Learning-curve values of one epoch: Dice of the validation maps against the pseudo-masks.

        The maps also go to the core, which scores them against ground truth for the report and
        returns nothing.
        """
        self.model, self._modalities = model, validation.modalities
        maps = self.predict(validation)
        values: dict[str, float] = {}
        if masks is not None:
            generator = masks.upstream.masks if masks.upstream is not None else masks.masks
            values["dice_generator_masks"] = mean_slice_dice(maps.scores, generator)
        report = self.context.learning_curve
        if report is not None:
            report(epoch, maps, values)
        return values

    def _checkpoint_dir(self, data: TrainingSlices, held_out: TrainingSlices | None) -> Path:
        # Resuming is safe only into a run with identical training options, data, targets and
        # seed: all of them key the directory, so a changed run starts afresh instead.
        training_options = self.options.model_dump(mode="json", exclude={"mask_outside_brain"})
        digest = hashlib.sha256()
        digest.update(json.dumps([_FORMAT, training_options, self.context.seed]).encode())
        for part in (data, held_out):
            if part is not None:
                _hash_training_slices(digest, part)
        return Path(self.context.work_dir) / f"unet-{digest.hexdigest()[:16]}"

    def predict(self, slices: SliceSet) -> ScoreMaps:
        """Sigmoid probabilities ``(N, H, W)`` for ``slices``.

        Raises:
            ContractError: called before :meth:`fit`/:meth:`load`, or with other modalities.
        """
        model = self._fitted(slices)
        device = self.context.torch_device()
        out = np.zeros((len(slices), *slices.spatial_shape), np.float32)
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(slices), self.options.predict_batch_size):
                part = slice(start, start + self.options.predict_batch_size)
                images = torch.from_numpy(np.ascontiguousarray(slices.images[part])).to(device)
                with autocast(self.context.device, self.context.amp):
                    logits = model(images)
                out[part] = torch.sigmoid(logits.float())[:, 0].cpu().numpy()
        if self.options.mask_outside_brain:
            out *= slices.brain_masks
        return ScoreMaps(scores=out, kind="probability")

    def _fitted(self, slices: SliceSet) -> ReferenceUNet:
        if self.model is None:
            raise ContractError("unet: predict() called before fit() or load()")
        if slices.modalities != self._modalities:
            raise ContractError(f"unet: trained on modalities {self._modalities}, got {slices.modalities}")
        return self.model

    def save(self, path: str | Path) -> Path:
        """Write the trained weights with the options and modalities (``weights_only`` loadable).

        Raises:
            ContractError: nothing was trained yet.
        """
        if self.model is None:
            raise ContractError("unet: save() called before fit()")
        meta = {
            "format": _FORMAT,
            "options": self.options.model_dump(mode="json"),
            "modalities": list(self._modalities),
        }
        return save_weights(path, self.model, meta)

    @classmethod
    def load(cls, path: str | Path, context: BuildContext) -> UNetSegmenter:
        """A segmenter ready to predict, from a file written by :meth:`save`.

        Raises:
            DataError: the file is missing, unreadable or not a ``unet`` weights file.
        """
        meta = read_checkpoint(path).get("meta") or {}
        if meta.get("format") != _FORMAT:
            raise DataError(f"{path} is not a unet weights file", hint="write it with UNetSegmenter.save()")
        segmenter = cls(UNetOptions.model_validate(meta["options"]), context)
        segmenter._modalities = tuple(meta["modalities"])
        model = segmenter._build(len(segmenter._modalities))
        load_weights(path, model, map_location=context.torch_device())
        segmenter.model = model
        return segmenter


def _hash_training_slices(digest: Any, data: TrainingSlices) -> None:
    # Chunked, so that memory-mapped slice caches are hashed without loading them whole.
    digest.update(data.index.astype(np.int64).tobytes())
    digest.update(np.packbits(data.targets).tobytes())
    hash_slices(digest, data.slices, data.index)
