"""``patch2loc``: where in its slice does a patch come from? Lesions make the answer wrong or uncertain.

Baker & Brockmeier (AISTATS 2026), spec §5. A ResNet-18 regresses the centre of a random patch of a
healthy slice (row, column in percent of the side) from the patch and the slice's position in its volume,
with a mean and a log-variance head trained with β-NLL. At test every pixel (every ``stride``-th pixel,
maps up-sampled bilinearly) is a patch centre and scores ``log(‖μ − t‖² + 1e-10) + mean(log σ²)``: a log
scale, negative values included (``kind="score"``). The map is taken inside the eroded brain and 3-D median
filtered per volume (scipy, where the official code needs CuPy). The fusion with reconstruction maps that
the abstract mentions is not in the public code and not here.

The slice position is its axial index among the volume's slices that the pipeline keeps with brain, in
percent (the official code divides by the number of brain slices of the 192×192×100 crop).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wsad_baselines.config_patch2loc import METHOD_FIELDS_PATCH2LOC, Patch2LocOptions
from wsad_baselines.torch_patch2loc import Patch2LocNet, beta_nll
from wsad_core import Deviation, ScoreMaps, SliceSet
from wsad_core.reconstruction import (
    HealthySlices,
    LazyBatches,
    ReconstructionSegmenter,
    batch_to_size,
    erode,
    input_normalisation,
    maps_to_size,
    masks_to_size,
    median_3d,
)
from wsad_core.training import derive_seed

__all__ = ["Patch2LocSegmenter", "slice_positions"]

_VAL_STREAM = 31
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # patches, positions, targets


def slice_positions(slices: SliceSet) -> np.ndarray:
    """Each slice's position in its volume, in percent: its index among the volume's slices with brain."""
    positions = np.zeros(len(slices), np.float32)
    has_brain = slices.brain_masks.reshape(len(slices), -1).any(axis=1)
    case_ids = np.asarray(slices.case_ids)
    for case in np.unique(case_ids):
        rows = np.flatnonzero(case_ids == case)
        indices = slices.slice_indices[rows]
        with_brain = indices[has_brain[rows]] if has_brain[rows].any() else indices
        low, high = int(with_brain.min()), int(with_brain.max())
        positions[rows] = np.clip((indices - low) / max(high - low + 1, 1), 0.0, 1.0) * 100.0
    return positions


def _patches(
    images: torch.Tensor, brain: torch.Tensor, which: torch.Tensor, centres: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Patches ``(N, C, P, P)`` (zero outside the slice, × brain) and their brain fraction, centred at ``centres``."""
    half = size // 2
    padded = F.pad(images * brain, (half, half, half, half))
    padded_brain = F.pad(brain, (half, half, half, half))
    offsets = torch.arange(size, device=images.device)
    rows = (centres[:, 0:1] + offsets)[:, :, None]
    cols = (centres[:, 1:2] + offsets)[:, None, :]
    patches = padded[which[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    fraction = padded_brain[which[:, None, None], 0, rows, cols].float().mean(dim=(1, 2))
    return patches.contiguous(), fraction


class Patch2LocSegmenter(ReconstructionSegmenter):
    """Patch-location regression (unsupervised, healthy slices only)."""

    method = "patch2loc"
    format = "wsad-baselines.patch2loc/1"
    options_model = Patch2LocOptions
    setting_fields = METHOD_FIELDS_PATCH2LOC
    prediction_fields = frozenset({"stride", "erosion_iterations", "median_size", "predict_batch_size"})
    healthy_cohort = True  # §5: IXI
    published_modalities = ("t2",)

    def method_notes(self) -> tuple[str, ...]:
        """The score as computed."""
        options = self.options
        return (
            f"patch2loc score = log(|mu - t|^2 + 1e-10) + mean(log sigma^2) of {options.patch_size}-px patches "
            f"centred every {options.stride} px, in the brain eroded {options.erosion_iterations}x, 3-D median "
            f"{options.median_size} (log scale: negative values occur)",
        )

    def method_deviations(self) -> list[Deviation]:
        """Normalisation and the checkpoint rule when it differs."""
        found = [
            input_normalisation(
                self.context, published="Nyul histogram standardisation, then 1-99 % of the brain rescaled to [0, 1]"
            )
        ]
        return found + self.last_epoch_deviation(published="best validation loss")

    @property
    def checkpoint_selection(self) -> str:
        """Lowest validation loss (published 'best') or the last epoch."""
        return self.kept_checkpoint("lowest beta-NLL on healthy validation slices (fixed patches)")

    def build_model(self, in_channels: int) -> torch.nn.Module:
        """ResNet-18 with the small-patch stem and the two heads."""
        return Patch2LocNet(in_channels, self.options.latent_dim)

    def configure(self, model: torch.nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        """Adam, no schedule (published)."""
        return torch.optim.Adam(model.parameters(), lr=self.options.learning_rate), None

    # --- training batches -------------------------------------------------------------------
    def _batch(self, data: HealthySlices, chosen: torch.Tensor, generator: torch.Generator) -> Batch:
        options = self.options
        images, brain = data.batch(chosen)
        positions = torch.from_numpy(self._positions(data.slices)[data.index[chosen.numpy()]]).to(images.device)
        size = options.image_size
        count = options.patches_per_batch
        which = torch.randint(0, len(chosen), (count,), generator=generator).to(images.device)
        centres = torch.randint(0, size, (count, 2), generator=generator).to(images.device)
        patches, fraction = _patches(images, brain, which, centres, options.patch_size)
        keep = fraction >= options.min_brain_fraction
        targets = centres[keep].float() / size * 100.0
        return patches[keep], positions[which[keep]], targets

    def _positions(self, slices: SliceSet) -> np.ndarray:
        cached = getattr(self, "_position_cache", None)
        if cached is None or cached[0] is not slices:
            cached = (slices, slice_positions(slices))
            self._position_cache = cached
        return cached[1]

    def epoch_batches(self, data: HealthySlices, epoch: int, generator: torch.Generator) -> LazyBatches[Batch]:
        """``batches_per_epoch`` batches, each of patches from ``slices_per_batch`` random healthy slices."""
        del epoch
        options = self.options
        parts = [
            torch.randperm(len(data), generator=generator)[: options.slices_per_batch]
            for _ in range(options.batches_per_epoch)
        ]
        return LazyBatches(parts, lambda chosen: self._batch(data, chosen, generator))

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """β-NLL of the patch centres."""
        patches, positions, targets = batch
        mean, log_variance = model(patches, positions)
        return beta_nll(mean.float(), log_variance.float(), targets, self.options.beta)

    def validation(self, model: torch.nn.Module, data: HealthySlices) -> Callable[[], float]:
        """The loss on fixed patches of (up to ``slices_per_batch``) healthy validation slices."""
        seed = self.context.seed
        chosen = torch.randperm(len(data), generator=torch.Generator().manual_seed(derive_seed(seed, _VAL_STREAM)))
        chosen = chosen[: self.options.slices_per_batch]

        def validate() -> float:
            batch = self._batch(data, chosen, torch.Generator().manual_seed(derive_seed(seed, _VAL_STREAM, 1)))
            with torch.no_grad():
                return float(self.loss(model, batch))

        return validate

    # --- prediction -------------------------------------------------------------------------
    def residual(self, images: torch.Tensor, reconstruction: torch.Tensor, slices: SliceSet, part: slice) -> np.ndarray:
        """Not used: :meth:`predict` scores patches directly."""
        raise NotImplementedError

    def postprocess(self, residuals: np.ndarray, brain: np.ndarray, slices: SliceSet) -> np.ndarray:
        """× the eroded brain, then the 3-D median per volume."""
        eroded = erode(brain, self.options.erosion_iterations)
        return median_3d(residuals * eroded, slices.case_ids, slices.slice_indices, self.options.median_size)

    def predict(self, slices: SliceSet) -> ScoreMaps:
        """Score maps ``(N, H, W)`` (log scale, ``kind="score"``), 0 outside the brain."""
        model = self._fitted(slices)
        options, device = self.options, self.context.torch_device()
        size, stride = options.image_size, options.stride
        grid = torch.arange(0, size, stride, device=device)
        centres = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), dim=-1).reshape(-1, 2)
        targets = centres.float() / size * 100.0
        positions = torch.from_numpy(slice_positions(slices)).to(device)
        scores = np.zeros((len(slices), size, size), np.float32)
        brain_small = np.zeros((len(slices), size, size), bool)
        model.eval()
        with torch.inference_mode():
            for i in range(len(slices)):
                image = batch_to_size(slices.images[i : i + 1], size, device)
                brain = masks_to_size(slices.brain_masks[i : i + 1], size, device).float()
                which = torch.zeros(len(centres), dtype=torch.long, device=device)
                patches, _ = _patches(image, brain, which, centres, options.patch_size)
                values = []
                for start in range(0, len(centres), options.predict_batch_size):
                    part = slice(start, start + options.predict_batch_size)
                    mean, log_variance = model(patches[part], positions[i].expand(patches[part].shape[0]))
                    error = ((mean.float() - targets[part]) ** 2).sum(dim=1)
                    values.append(torch.log(error + 1e-10) + log_variance.float().mean(dim=1))
                coarse = torch.cat(values).reshape(1, 1, len(grid), len(grid))
                if stride > 1:
                    coarse = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
                scores[i] = coarse[0, 0].cpu().numpy()
                brain_small[i] = brain[0, 0].cpu().numpy() > 0.5
        maps = maps_to_size(self.postprocess(scores, brain_small, slices), slices.spatial_shape)
        return ScoreMaps(np.where(slices.brain_masks, maps, 0.0).astype(np.float32), kind="score")
