"""``dae``: the denoising autoencoder of Kascenas et al. (MIDL 2022), baselines.md §3.

A U-Net (weight-standardised convs, Swish, GroupNorm) learns to remove coarse noise —
N(0, 0.2) on a 16x16 grid, bilinearly up-sampled to 128², circularly shifted and
restricted to the brain — from healthy slices. The anomaly score is the channel-mean
absolute residual inside the eroded brain mask, 5x5 median filtered, up-sampled to the
slice size. The published 3-D connected-component filter (<= 20 voxels) acts on the
thresholded volume and is left to the evaluator's per-volume protocol.

Training uses the core loop with one *epoch* = one 32-iteration pseudo-epoch, so the
cosine schedule (T_max 100, cycling) steps exactly as in the official code, and
selection keeps the pseudo-epoch with the lowest validation loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wsad_baselines.config_recon import METHOD_FIELDS_DAE, DAEOptions
from wsad_baselines.torch_recon import DenoisingUNet
from wsad_core import Deviation, SliceSet
from wsad_core.reconstruction.data import HealthySlices, LazyBatches
from wsad_core.reconstruction.deviations import input_normalisation
from wsad_core.reconstruction.postprocess import avgpool_erode, median_2d
from wsad_core.reconstruction.segmenter import ReconstructionSegmenter
from wsad_core.training import derive_seed

__all__ = ["DAESegmenter", "coarse_noise"]

_VAL_ORDER_STREAM, _VAL_NOISE_STREAM = 11, 12

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # noisy, clean, brain


def coarse_noise(
    shape: torch.Size, std: float, resolution: int, shift: str, generator: torch.Generator
) -> torch.Tensor:
    """The DAE's coarse noise for images of ``shape`` ``(B, C, H, W)``, on the CPU.

    Per sample and channel N(0, ``std``²) on a ``resolution``² grid, bilinearly up-sampled
    (corners aligned) to ``H x W``, then circularly shifted by a random offset — one for
    the whole batch (``shift="batch"``, the official code) or one per sample.
    """
    batch, channels, height, width = shape
    grid = torch.randn(batch, channels, resolution, resolution, generator=generator) * std
    noise = F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=True)
    if shift == "batch":
        dy, dx = (int(v) for v in torch.randint(0, max(height, width), (2,), generator=generator))
        return torch.roll(noise, shifts=(dy % height, dx % width), dims=(-2, -1))
    offsets = torch.randint(0, max(height, width), (batch, 2), generator=generator)
    rolled = [
        torch.roll(n, shifts=(int(dy) % height, int(dx) % width), dims=(-2, -1))
        for n, (dy, dx) in zip(noise, offsets, strict=True)
    ]
    return torch.stack(rolled)


class DAESegmenter(ReconstructionSegmenter):
    """Denoising-AE anomaly segmenter (unsupervised, healthy slices only).

    Args:
        options: validated :class:`~wsad_baselines.config_recon.DAEOptions`.
        context: device, seed, work directory (checkpoints), AMP flag, progress and logger.
    """

    method = "dae"
    format = "wsad-baselines.dae/1"
    options_model = DAEOptions
    setting_fields = METHOD_FIELDS_DAE
    prediction_fields = frozenset({"median_size", "predict_batch_size"})
    healthy_cohort = False  # §3: the paper, too, trains on the tumour-free slices of its training patients
    published_modalities = ("flair", "t1", "t1ce", "t2")  # §3: the four BraTS modalities stacked

    def method_notes(self) -> tuple[str, ...]:
        """Score and post-processing as configured (§3) and the deferred CC filter (facts, not deviations)."""
        return (
            f"DAE score = channel-mean |x - x_hat| in the eroded brain, {self.options.median_size}x"
            f"{self.options.median_size} median (as published)",
            "the published 3-D connected-component filter (<= 20 voxels) is a post-threshold step: use the "
            "per-volume protocol's CC filter",
        )

    def method_deviations(self) -> list[Deviation]:
        """The pipeline's normalisation and foreground, and a checkpoint rule other than the best validation loss."""
        found = [
            input_normalisation(
                self.context, published="each modality divided by its 99th percentile of non-zero voxels"
            ),
            Deviation(
                kind="default", what="foreground", used="the pipeline's brain mask", published="channel sum > 0.01"
            ),
        ]
        published = "lowest validation loss"
        if self.validated is False and self.options.selection != "last":
            used = "last pseudo-epoch (no healthy validation slices)"
            found.append(Deviation(kind="selection", what="checkpoint", used=used, published=published))
        elif self.options.selection == "last":
            found.append(Deviation(kind="selection", what="checkpoint", used="last pseudo-epoch", published=published))
        return found

    @property
    def checkpoint_selection(self) -> str:
        """The pseudo-epoch whose weights are used: lowest validation loss (§3) or the last."""
        history = self.history
        if self.validated is not False and self.options.selection == "best-validation":
            rule = "lowest validation loss on healthy validation slices with fixed noise"
        else:
            rule = "last pseudo-epoch"
        if history is not None:
            rule += history.kept("pseudo-epoch")
        return rule

    def build_model(self, in_channels: int) -> DenoisingUNet:
        """The §3 U-Net with ``in_channels`` inputs and outputs."""
        return DenoisingUNet(in_channels, self.options.channels)

    def configure(self, model: torch.nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        """Adam (amsgrad, weight decay) and a cosine schedule stepped per pseudo-epoch (§3)."""
        options = self.options
        optimizer = torch.optim.Adam(
            model.parameters(), lr=options.learning_rate, amsgrad=True, weight_decay=options.weight_decay
        )
        return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=options.cosine_period)

    def _noisy(self, batch: tuple[torch.Tensor, torch.Tensor], generator: torch.Generator) -> Batch:
        images, brain = batch
        options = self.options
        noise = coarse_noise(images.shape, options.noise_std, options.noise_resolution, options.noise_shift, generator)
        return images + noise.to(images.device) * brain, images, brain

    def epoch_batches(self, data: HealthySlices, epoch: int, generator: torch.Generator) -> LazyBatches[Batch]:
        """``iterations_per_epoch`` batches drawn from consecutive random permutations of the healthy slices."""
        del epoch
        options = self.options
        needed = options.iterations_per_epoch * options.batch_size
        rounds = -(-needed // len(data))
        order = torch.cat([torch.randperm(len(data), generator=generator) for _ in range(rounds)])[:needed]
        return LazyBatches(
            list(order.split(options.batch_size)), lambda positions: self._noisy(data.batch(positions), generator)
        )

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """Squared error inside the brain, averaged over every element (§3)."""
        noisy, clean, brain = batch
        return ((model(noisy).float() - clean) ** 2 * brain).mean()

    def validation(self, model: torch.nn.Module, data: HealthySlices) -> Callable[[], float]:
        """Loss on a fixed random subset of the healthy validation slices with fixed noise."""
        options, seed = self.options, self.context.seed
        count = min(len(data), options.validation_batches * options.batch_size)
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(derive_seed(seed, _VAL_ORDER_STREAM)))
        parts = order[:count].split(options.batch_size)

        def validate() -> float:
            generator = torch.Generator().manual_seed(derive_seed(seed, _VAL_NOISE_STREAM))
            total = 0.0
            for positions in parts:
                total += float(self.loss(model, self._noisy(data.batch(positions), generator))) * len(positions)
            return total / count

        return validate

    def residual(self, images: torch.Tensor, reconstruction: torch.Tensor, slices: SliceSet, part: slice) -> np.ndarray:
        """Channel-mean absolute residual ``(B, S, S)``."""
        del slices, part
        return (images - reconstruction).abs().mean(dim=1).cpu().numpy()

    def postprocess(self, residuals: np.ndarray, brain: np.ndarray, slices: SliceSet) -> np.ndarray:
        """× brain eroded by a 5x5 average pool > 0.95, then the 5x5 median (§3)."""
        del slices
        return median_2d(residuals * avgpool_erode(brain, 5, 0.95), self.options.median_size)
