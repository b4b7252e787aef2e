"""``ae``: the dense-bottleneck autoencoder of Baur et al. (MedIA 2021), baselines.md §2.

Trained with the per-image summed L1 loss on healthy slices (Adam 1e-4, beta1 0.5,
batch 128), stopping after ``patience`` epochs without validation improvement. Score:
the positive residual ``max(x - x_hat, 0)`` inside the brain mask eroded 12 times, zeroed
where the input is below its volume's 90th percentile (hyperintensity prior), then a
5³ median within each volume, up-sampled to the slice size. The published 3-D
connected-component filter acts on the thresholded volume and is left to the evaluator.

Early stopping runs through the core loop one epoch at a time: each call of
:func:`wsad_core.training.train` resumes from the previous epoch's checkpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wsad_baselines.config_recon import METHOD_FIELDS_AE, AEOptions
from wsad_baselines.torch_recon import BaurAutoencoder
from wsad_core import Deviation, SliceSet
from wsad_core.reconstruction.data import HealthySlices, LazyBatches
from wsad_core.reconstruction.postprocess import erode, median_2d, median_3d, volume_quantile
from wsad_core.reconstruction.segmenter import ReconstructionSegmenter
from wsad_core.training import TrainingHistory, minibatch_indices, read_checkpoint, train

__all__ = ["AESegmenter", "epochs_done"]

Batch = tuple[torch.Tensor, torch.Tensor]
_PUBLISHED_PATIENCE: int = AEOptions.model_fields["patience"].default  # §2: 5 epochs without validation gain


def epochs_done(checkpoint_dir: Path) -> int:
    """Epochs already completed in ``checkpoint_dir`` (0 without a ``last.pt``)."""
    path = Path(checkpoint_dir) / "last.pt"
    if not path.exists():
        return 0
    return len((read_checkpoint(path).get("history") or {}).get("train_loss") or [])


class AESegmenter(ReconstructionSegmenter):
    """Baur et al.'s AE anomaly segmenter (unsupervised, healthy slices only).

    Args:
        options: validated :class:`~wsad_baselines.config_recon.AEOptions`.
        context: device, seed, work directory (checkpoints), AMP flag, progress and logger.
    """

    method = "ae"
    format = "wsad-baselines.ae/1"
    options_model = AEOptions
    setting_fields = METHOD_FIELDS_AE
    prediction_fields = frozenset(
        {"residual", "erosion_iterations", "hyperintensity_quantile", "median", "median_size", "predict_batch_size"}
    )
    healthy_cohort = True  # Baur et al. train on healthy subjects' scans (baselines.md §0, §2)

    def __init__(self, options: AEOptions, context: Any) -> None:
        super().__init__(options, context)
        self._quantiles: np.ndarray | None = None
        self._stopped_early = False

    def method_deviations(self) -> list[Deviation]:
        """The epoch cap where it ended the run, and the checkpoint rule where it is not the official one."""
        o, history = self.options, self.history
        published_stop = f"until {_PUBLISHED_PATIENCE} epochs without validation gain"
        found = []
        # The published run has no epoch limit: `epochs` departs from it only when the cap ends training
        # (before fit: when it is not wsad's default cap).
        if history is None and o.epochs != AEOptions.model_fields["epochs"].default:
            found.append(Deviation(kind="setting", what="epochs", used=f"at most {o.epochs}", published=published_stop))
        elif history is not None and not self._stopped_early:
            used = f"{history.completed} (cap reached)"
            found.append(Deviation(kind="setting", what="epochs", used=used, published=published_stop))
        published = f"last epoch, after early stopping ({_PUBLISHED_PATIENCE} epochs without validation gain)"
        if self.validated is False:
            used = "last epoch, no early stopping (no healthy validation slices)"
            found.append(Deviation(kind="selection", what="checkpoint", used=used, published=published))
        elif o.selection != "last":
            used = "lowest validation loss on healthy validation slices"
            found.append(Deviation(kind="selection", what="checkpoint", used=used, published=published))
        return found

    @property
    def checkpoint_selection(self) -> str:
        """The weights kept: the last epoch's (official code) or the best validation loss, with the stopping rule."""
        o, history = self.options, self.history
        validated = self.validated is not False
        rule = (
            "lowest validation loss on healthy validation slices"
            if validated and o.selection != "last"
            else "last epoch"
        )
        if validated and o.patience:
            rule += f", early stopping after {o.patience} epochs without validation gain (cap {o.epochs})"
        else:
            rule += f" of {o.epochs}"
        if history is not None and history.selected_epoch is not None:
            stop = "stopped early" if self._stopped_early else "ran to the cap"
            rule += f"; kept epoch {history.selected_epoch + 1} of {history.completed} ({stop})"
        return rule

    def method_notes(self) -> tuple[str, ...]:
        """Score and post-processing as configured (§2), and the deferred CC filter (facts, not deviations)."""
        o = self.options
        prior = "off" if o.hyperintensity_quantile is None else f"< volume {o.hyperintensity_quantile:g} quantile -> 0"
        median = "none" if o.median == "none" else f"{o.median} median {o.median_size}"
        residual = "max(x - x_hat, 0)" if o.residual == "positive" else "|x - x_hat|"
        return (
            f"AE score = {residual} in the brain mask eroded {o.erosion_iterations}x, hyperintensity prior "
            f"{prior}, {median} (as published; 3-D over each volume's available slices); inputs are the pipeline's "
            "per-volume normalised slices",
            "the published connected-component filter is a post-threshold step: use the per-volume protocol's CC "
            "filter",
        )

    def build_model(self, in_channels: int) -> BaurAutoencoder:
        """The §2 autoencoder for ``in_channels`` modalities."""
        o = self.options
        return BaurAutoencoder(
            in_channels,
            o.image_size,
            o.encoder_channels,
            o.decoder_channels,
            o.bottleneck,
            o.bottleneck_channels,
            o.latent_dim,
            o.dropout,
        )

    def configure(self, model: torch.nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        """Adam with the official beta1; no schedule."""
        options = self.options
        return torch.optim.Adam(model.parameters(), lr=options.learning_rate, betas=(options.adam_beta1, 0.999)), None

    def epoch_batches(self, data: HealthySlices, epoch: int, generator: torch.Generator) -> LazyBatches[Batch]:
        """One shuffled pass over the healthy slices."""
        del epoch
        return LazyBatches(minibatch_indices(len(data), self.options.batch_size, generator), data.batch)

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """L1 summed over each image, averaged over the batch (§2)."""
        images, _ = batch
        return (model(images).float() - images).abs().sum(dim=(1, 2, 3)).mean()

    def validation(self, model: torch.nn.Module, data: HealthySlices) -> Callable[[], float]:
        """The training loss over all healthy validation slices (dropout off)."""
        parts = minibatch_indices(len(data), self.options.predict_batch_size, torch.Generator(), shuffle=False)

        def validate() -> float:
            total = sum(float(self.loss(model, data.batch(positions))) * len(positions) for positions in parts)
            return total / len(data)

        return validate

    def run_training(
        self, model: torch.nn.Module, data: HealthySlices, validate: Callable[[], float] | None, checkpoint_dir: Path
    ) -> TrainingHistory:
        """Epochs through the core loop until ``patience`` epochs pass without validation improvement."""
        options = self.options
        optimizer, _ = self.configure(model)
        selection = options.selection if validate is not None else "last"
        run = functools.partial(
            train,
            model=model,
            optimizer=optimizer,
            loss_fn=self.loss,  # (model, batch): DDP-ready under torchrun
            batches=functools.partial(self.epoch_batches, data),
            context=self.context,
            checkpoint_dir=checkpoint_dir,
            validate=validate,
            selection=selection,
            description="ae",
        )
        self._stopped_early = False
        if validate is None or options.patience == 0:
            return run(epochs=options.epochs)
        # The core loop has no early stopping: extend the run one epoch at a time (each call
        # resumes from last.pt) and stop once the best epoch lies `patience` epochs back.
        epochs = max(1, epochs_done(checkpoint_dir))
        while True:
            history = run(epochs=epochs)
            stalled = history.best_epoch is not None and history.completed - 1 - history.best_epoch >= options.patience
            if stalled or epochs >= options.epochs:
                self._stopped_early = stalled
                return history
            epochs += 1

    def prepare(self, slices: SliceSet) -> None:
        """Per-volume intensity quantiles of the hyperintensity prior."""
        q = self.options.hyperintensity_quantile
        self._quantiles = (
            None if q is None else volume_quantile(slices.images, slices.case_ids, slices.slice_indices, q)
        )

    def residual(self, images: torch.Tensor, reconstruction: torch.Tensor, slices: SliceSet, part: slice) -> np.ndarray:
        """Positive (or absolute) residual, zero below the volume quantile, channel mean ``(B, S, S)``."""
        del slices
        difference = images - reconstruction
        positive = difference.clamp_min(0) if self.options.residual == "positive" else difference.abs()
        if self._quantiles is not None:
            floor = torch.from_numpy(self._quantiles[part]).to(images.device)[:, :, None, None]
            positive = positive * (images >= floor)
        return positive.mean(dim=1).cpu().numpy()

    def postprocess(self, residuals: np.ndarray, brain: np.ndarray, slices: SliceSet) -> np.ndarray:
        """× the eroded brain mask, then the 3-D (or 2-D) median."""
        options = self.options
        maps = residuals * erode(brain, options.erosion_iterations)
        if options.median == "3d":
            return median_3d(maps, slices.case_ids, slices.slice_indices, options.median_size)
        if options.median == "2d":
            return median_2d(maps, options.median_size)
        return maps
