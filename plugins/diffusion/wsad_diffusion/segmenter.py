"""``ddpm``, ``pddpm`` and ``mddpm``: denoising diffusion models that reconstruct healthy anatomy.

Training (healthy slices only): a random timestep t, the forward process noises the slice (``ddpm``) or
one random box of the patch grid with the rest as clean context (``pddpm``; ``mddpm`` first applies its
masking block to the clean slice), the network predicts x0 and the L1 loss compares it with the clean
slice, the prediction pasted into the box (spec §6.2, §7). Test: the slice — or each box in turn — is
noised to ``test_timestep`` and reconstructed in one step; the score is |x - x̂| in the brain eroded
``erosion_iterations`` times, 3-D median filtered per volume (unbounded: ``kind="score"``).

The test noise of a slice is drawn from a stream seeded by the run's seed, the case id and the slice
index, so a slice's map does not depend on which other slices share its batch: ``wsad predict`` on one
case gives the maps the run wrote.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from wsad_core import Deviation, SliceSet
from wsad_core.reconstruction import (
    HealthySlices,
    LazyBatches,
    ReconstructionSegmenter,
    erode,
    input_normalisation,
    median_3d,
)
from wsad_core.training import derive_seed
from wsad_diffusion.config import SETTING_FIELDS, DDPMOptions, MDDPMOptions, PDDPMOptions
from wsad_diffusion.masking import grid_boxes, mask_batch
from wsad_diffusion.networks import build_scheduler, build_unet, predict_x0
from wsad_diffusion.noise import noise_like

__all__ = ["DDPMSegmenter", "MDDPMSegmenter", "PDDPMSegmenter"]

_VAL_STREAM, _TEST_STREAM = 21, 22

#: (input to noise, clean target, brain, noise, timesteps, box mask or None)
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]


def _slice_seed(seed: int, case_id: str, index: int) -> int:
    digest = hashlib.sha256(f"{case_id}\0{index}".encode()).digest()
    return derive_seed(seed, _TEST_STREAM, int.from_bytes(digest[:7], "big"))


class DDPMSegmenter(ReconstructionSegmenter):
    """Unpatched DDPM with simplex noise (the Behrendt family's DDPM baseline)."""

    method = "ddpm"
    format = "wsad-diffusion.ddpm/1"
    options_model: ClassVar[type[Any] | None] = DDPMOptions
    setting_fields = SETTING_FIELDS
    prediction_fields = frozenset({"test_timestep", "erosion_iterations", "median_size", "predict_batch_size"})
    healthy_cohort = True  # §6.1: trained on the healthy IXI cohort
    published_modalities = ("t2",)  # §6.1 / §7: BraTS21 T2
    patched: ClassVar[bool] = False

    def __init__(self, options: Any, context: Any) -> None:
        super().__init__(options, context)
        self._scheduler = build_scheduler(options)

    # --- what the results say ---------------------------------------------------------------
    def method_notes(self) -> tuple[str, ...]:
        """The score as computed."""
        how = "each grid box noised in turn and stitched" if self.patched else "the whole slice noised"
        return (
            f"{self.method} score = |x - x_hat| after one-step x0 prediction from t={self.options.test_timestep} "
            f"({how}, {self.options.noise} noise), in the brain eroded {self.options.erosion_iterations}x, "
            f"3-D median {self.options.median_size}",
        )

    def method_deviations(self) -> list[Deviation]:
        """Normalisation, the MONAI UNet's time embedding, and the checkpoint rule when it differs."""
        found = [
            input_normalisation(self.context, published="per volume, 1-99 % of the brain rescaled to [0, 1]"),
            Deviation(
                kind="default",
                what="UNet time embedding",
                used="added to the features (MONAI DiffusionModelUNet)",
                published="scale-shift of the normalised features (OpenAI UNet)",
            ),
        ]
        return found + self.last_epoch_deviation(published="lowest validation loss")

    @property
    def checkpoint_selection(self) -> str:
        """Lowest loss on the healthy validation slices (published) or the last epoch."""
        return self.kept_checkpoint("lowest loss on healthy validation slices (fixed noise and timesteps)")

    # --- training ---------------------------------------------------------------------------
    def build_model(self, in_channels: int) -> torch.nn.Module:
        """The published UNet (or the options' size) for ``in_channels`` modalities."""
        return build_unet(self.options, in_channels)

    def configure(self, model: torch.nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        """Adam without a schedule (published)."""
        return torch.optim.Adam(model.parameters(), lr=self.options.learning_rate), None

    def _order(self, data: HealthySlices, generator: torch.Generator) -> torch.Tensor:
        """One epoch's slice positions: one random healthy slice per volume (published), or all, shuffled."""
        if self.options.epoch_sampling == "all-slices":
            return torch.randperm(len(data), generator=generator)
        volumes: dict[str, list[int]] = defaultdict(list)
        for position, index in enumerate(data.index):
            volumes[data.slices.case_ids[int(index)]].append(position)
        picks = [
            members[int(torch.randint(0, len(members), (1,), generator=generator))]
            for _, members in sorted(volumes.items())
        ]
        return torch.tensor(picks)[torch.randperm(len(picks), generator=generator)]

    def _boxes(self, count: int, generator: torch.Generator, device: torch.device) -> torch.Tensor | None:
        """A random grid box per sample as a float mask ``(B, 1, S, S)`` (patched models), else ``None``."""
        if not self.patched:
            return None
        size = self.options.image_size
        grid = grid_boxes(size, self.options.patch_size)
        masks = torch.zeros(count, 1, size, size)
        for b, choice in enumerate(torch.randint(0, len(grid), (count,), generator=generator).tolist()):
            top, bottom, left, right = grid[choice]
            masks[b, :, top:bottom, left:right] = 1.0
        return masks.to(device)

    def _training_batch(self, batch: tuple[torch.Tensor, torch.Tensor], generator: torch.Generator) -> Batch:
        images, brain = batch
        options = self.options
        noise = noise_like(
            images,
            options.noise,
            generator,
            octaves=options.simplex_octaves,
            persistence=options.simplex_persistence,
            frequency=options.simplex_frequency,
        )
        steps = torch.randint(0, options.timesteps, (images.shape[0],), generator=generator).to(images.device)
        boxes = self._boxes(images.shape[0], generator, images.device)
        return self.corrupt_input(images, brain, generator), images, brain, noise, steps, boxes

    def corrupt_input(self, images: torch.Tensor, brain: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The clean slice the forward process starts from (``mddpm`` masks it first)."""
        del brain, generator
        return images

    def epoch_batches(self, data: HealthySlices, epoch: int, generator: torch.Generator) -> LazyBatches[Batch]:
        """One epoch of batches, every random choice drawn from ``generator``."""
        del epoch
        parts = list(self._order(data, generator).split(self.options.batch_size))
        return LazyBatches(parts, lambda positions: self._training_batch(data.batch(positions), generator))

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """L1 between the clean slice and the x0 prediction (pasted into the box for patched models)."""
        start, clean, _, noise, steps, boxes = batch
        noisy = self._scheduler.add_noise(original_samples=start, noise=noise, timesteps=steps)
        if boxes is not None:
            noisy = torch.where(boxes > 0, noisy, start)
        prediction = predict_x0(model, noisy, steps).float()
        if boxes is not None:
            prediction = torch.where(boxes > 0, prediction, clean)
        return (prediction - clean).abs().mean()

    def validation(self, model: torch.nn.Module, data: HealthySlices) -> Callable[[], float]:
        """The loss on (up to 4 batches of) the healthy validation slices with fixed noise, steps and boxes."""
        options, seed = self.options, self.context.seed
        count = min(len(data), 4 * options.batch_size)
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(derive_seed(seed, _VAL_STREAM)))
        parts = order[:count].split(options.batch_size)

        def validate() -> float:
            generator = torch.Generator().manual_seed(derive_seed(seed, _VAL_STREAM, 1))
            total = 0.0
            with torch.no_grad():
                for positions in parts:
                    batch = self._training_batch(data.batch(positions), generator)
                    total += float(self.loss(model, batch)) * len(positions)
            return total / count

        return validate

    # --- prediction -------------------------------------------------------------------------
    def prepare(self, slices: SliceSet) -> None:
        """Remember the slices: each one's test noise is seeded by its case id and slice index."""
        self._predicting = slices

    def _test_noise(self, images: torch.Tensor, part: slice) -> torch.Tensor:
        options, slices = self.options, self._predicting
        rows = range(len(slices))[part]
        noises = [
            noise_like(
                images[i : i + 1],
                options.noise,
                torch.Generator().manual_seed(
                    _slice_seed(self.context.seed, slices.case_ids[row], int(slices.slice_indices[row]))
                ),
                octaves=options.simplex_octaves,
                persistence=options.simplex_persistence,
                frequency=options.simplex_frequency,
            )
            for i, row in enumerate(rows)
        ]
        return torch.cat(noises)

    def reconstruct(self, model: torch.nn.Module, images: torch.Tensor, part: slice) -> torch.Tensor:
        """Noise to ``test_timestep`` (the whole slice, or each grid box in turn) and predict x0 in one step."""
        noise = self._test_noise(images, part)
        steps = torch.full((images.shape[0],), self.options.test_timestep, device=images.device, dtype=torch.long)
        noisy = self._scheduler.add_noise(original_samples=images, noise=noise, timesteps=steps)
        if not self.patched:
            return predict_x0(model, noisy, steps)
        reconstruction = torch.zeros_like(images)
        for top, bottom, left, right in grid_boxes(self.options.image_size, self.options.patch_size):
            box = torch.zeros_like(images[:1, :1])
            box[..., top:bottom, left:right] = 1.0
            prediction = predict_x0(model, torch.where(box > 0, noisy, images), steps)
            reconstruction[..., top:bottom, left:right] = prediction[..., top:bottom, left:right].float()
        return reconstruction

    def residual(self, images: torch.Tensor, reconstruction: torch.Tensor, slices: SliceSet, part: slice) -> np.ndarray:
        """Channel-mean absolute residual ``(B, S, S)``."""
        del slices, part
        return (images - reconstruction).abs().mean(dim=1).cpu().numpy()

    def postprocess(self, residuals: np.ndarray, brain: np.ndarray, slices: SliceSet) -> np.ndarray:
        """× the brain eroded ``erosion_iterations`` times, then the 3-D median per volume."""
        eroded = erode(brain, self.options.erosion_iterations) if self.options.erosion_iterations else brain
        return median_3d(residuals * eroded, slices.case_ids, slices.slice_indices, self.options.median_size)


class PDDPMSegmenter(DDPMSegmenter):
    """Patched DDPM (Behrendt et al., MIDL 2023)."""

    method = "pddpm"
    format = "wsad-diffusion.pddpm/1"
    options_model = PDDPMOptions
    setting_fields = (*SETTING_FIELDS, "patch_size")
    patched = True


class MDDPMSegmenter(PDDPMSegmenter):
    """Masked DDPM (Iqbal et al., MLMI 2023): pDDPM with a masking block on the clean training slices."""

    method = "mddpm"
    format = "wsad-diffusion.mddpm/1"
    options_model = MDDPMOptions
    setting_fields = (*SETTING_FIELDS, "patch_size", "masking")

    def corrupt_input(self, images: torch.Tensor, brain: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The masking block (IPM, FPM or FPM-CM) applied to the clean slice; the target stays clean."""
        return mask_batch(images, brain, self.options.masking, generator)
