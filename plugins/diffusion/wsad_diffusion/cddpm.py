"""``cddpm``: the DDPM conditioned on an embedding of the clean input (Behrendt et al., arXiv 2312.04215).

How the conditioning enters (official code FinnBehrendt/Conditioned-Diffusion-Models-UAD,
``src/models/modules/OpenAI_Unet.py``, ``src/models/DDPM_2D.py``): the encoder's 512-d embedding of the
clean slice goes through an MLP (Linear, SiLU, Linear, to 4 x the base width) and is *concatenated* with
the timestep embedding; every residual block projects the concatenation to its channels. The MONAI UNet
adds a projection of the timestep embedding only, so :class:`ConditionedUNet` widens each block's
projection to the concatenated embedding and runs the UNet's blocks itself.

Training (spec §6.3, official ``DDPM_2D.py``): the encoder is built first and pretrained on the healthy
training slices with a SparK-style masked-image-modelling objective (:mod:`wsad_diffusion.conditioning`;
cached and resumable in ``context.work_dir``), then the DDPM trains as ``ddpm`` does with the embedding of
the clean slice as condition; the encoder is fine-tuned jointly (the official optimiser is
``Adam(self.parameters())``, which holds the encoder). Test: the slice is noised to each of
``test_timesteps`` (index t - 1, as the official code does), reconstructed in one step with the same
embedding, the reconstructions averaged; the score is |x - x̂| in the eroded brain, 3-D median filtered,
as ``ddpm``'s. Each slice's test noises come from its own seeded stream (case id, slice index), so maps do
not depend on batching.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from wsad_core import BuildContext, ContractError, Deviation, MaskSet, SliceSet
from wsad_core.reconstruction import HealthySlices, LazyBatches, run_key, seeded_global_rng, seeded_init
from wsad_core.training import TrainingHistory
from wsad_diffusion.conditioning import ConditioningEncoder, MaskedImageModel, masked_mse, patch_mask
from wsad_diffusion.config_cddpm import CDDPM_SETTING_FIELDS, CDDPMOptions
from wsad_diffusion.networks import build_unet
from wsad_diffusion.noise import noise_like
from wsad_diffusion.segmenter import Batch, DDPMSegmenter, _slice_seed

__all__ = ["CDDPMNetwork", "CDDPMSegmenter", "ConditionedUNet"]

# Streams of the encoder pretraining (the DDPM stage uses the base class's and the segmenter's).
_PRETRAIN_INIT_STREAM, _PRETRAIN_TRAIN_STREAM = 31, 32


class ConditionedUNet(nn.Module):
    """MONAI's DiffusionModelUNet with the official cDDPM conditioning: [time; MLP(condition)] in every block.

    Args:
        options: the UNet's size (``channels``, ``num_res_blocks``, ...).
        in_channels: modalities (input and output channels).
        condition_dim: width of the condition vector.
    """

    def __init__(self, options: CDDPMOptions, in_channels: int, condition_dim: int) -> None:
        super().__init__()
        from monai.networks.nets.diffusion_model_unet import DiffusionUNetResnetBlock

        self.unet = build_unet(options, in_channels)
        width = self.unet.block_out_channels[0] * 4  # the time embedding's width (OpenAI and MONAI UNets)
        # OpenAI_Unet.py: label_emb = Linear(cond, width), SiLU, Linear(width, width), then cat with time.
        self.condition_embed = nn.Sequential(nn.Linear(condition_dim, width), nn.SiLU(), nn.Linear(width, width))
        for block in self.unet.modules():
            if isinstance(block, DiffusionUNetResnetBlock):
                # Each block sees the concatenated embedding (official time_embed_dim = 4 x base x 2).
                block.time_emb_proj = nn.Linear(2 * width, block.out_channels)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """The x0 prediction for ``x`` at ``timesteps`` given ``condition`` ``(B, condition_dim)``.

        The steps of MONAI's ``DiffusionModelUNet.forward`` (no class labels, cross-attention or ControlNet
        residuals) with the concatenated embedding.
        """
        from monai.networks.nets.diffusion_model_unet import get_timestep_embedding

        unet = self.unet
        time = get_timestep_embedding(timesteps, unet.block_out_channels[0]).to(dtype=x.dtype)
        emb = torch.cat([unet.time_embed(time), self.condition_embed(condition.to(x.dtype))], dim=1)
        h = unet.conv_in(x)
        skips: list[torch.Tensor] = [h]
        for block in unet.down_blocks:
            h, residuals = block(hidden_states=h, temb=emb, context=None)
            skips.extend(residuals)
        h = unet.middle_block(hidden_states=h, temb=emb, context=None)
        for block in unet.up_blocks:
            count = len(block.resnets)
            h = block(hidden_states=h, res_hidden_states_list=skips[-count:], temb=emb, context=None)
            skips = skips[:-count]
        return unet.out(h)


class CDDPMNetwork(nn.Module):
    """The conditioning encoder and the conditioned UNet, trained (and saved) together.

    Args:
        options: sizes of both parts.
        in_channels: modalities.
    """

    def __init__(self, options: CDDPMOptions, in_channels: int) -> None:
        super().__init__()
        self.encoder = ConditioningEncoder(in_channels, options.encoder, options.condition_dim)
        self.unet = ConditionedUNet(options, in_channels, options.condition_dim)

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """The x0 prediction for ``noisy`` at ``timesteps``, conditioned on the embedding of ``clean``."""
        return self.unet(noisy, timesteps, self.encoder(clean))


def _masked_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The pretraining loss through ``model``'s forward (the distributed wrapper under torchrun)."""
    images, masked = batch
    return masked_mse(model(images, masked).float(), images.float(), masked)


def _split(order: torch.Tensor, size: int) -> list[torch.Tensor]:
    """``order`` in batches of ``size``; a trailing single slice joins the batch before it.

    BatchNorm in training mode needs two values per channel, and the encoder's last feature map can be
    1 x 1 (the official loader drops the last incomplete batch instead, which could drop a whole epoch here).
    """
    parts = list(order.split(size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2:] = [torch.cat(parts[-2:])]
    return parts


class CDDPMSegmenter(DDPMSegmenter):
    """Conditioned DDPM (Behrendt et al., arXiv 2312.04215): encoder pretrained by masking, then the DDPM."""

    method = "cddpm"
    format = "wsad-diffusion.cddpm/1"
    options_model: ClassVar[type[Any] | None] = CDDPMOptions
    setting_fields = CDDPM_SETTING_FIELDS
    prediction_fields = frozenset({"test_timesteps", "erosion_iterations", "median_size", "predict_batch_size"})

    def __init__(self, options: CDDPMOptions, context: BuildContext) -> None:
        super().__init__(options, context)
        self.pretraining: TrainingHistory | None = None
        self._encoder_dir: str | None = None

    # --- what the results say ---------------------------------------------------------------
    def method_notes(self) -> tuple[str, ...]:
        """The score and the conditioning as computed."""
        options = self.options
        steps = "/".join(str(t) for t in options.test_timesteps)
        return (
            f"cddpm score = |x - x_hat|, x_hat the mean of one-step x0 predictions from t={steps} "
            f"({options.noise} noise, forward process at index t-1), conditioned on a {options.condition_dim}-d "
            f"{options.encoder} embedding of the input, in the brain eroded {options.erosion_iterations}x, "
            f"3-D median {options.median_size}",
            "cddpm encoder fine-tuned jointly with the UNet after masked-image pretraining (official code)",
        )

    def method_deviations(self) -> list[Deviation]:
        """The parent's, the encoder pretrained here, and the official intensity augmentation not applied."""
        found = [d for d in super().method_deviations() if d.what != "UNet time embedding"]
        options = self.options
        found += [
            Deviation(
                kind="default",
                what="UNet time embedding",
                used="[time, condition] embeddings projected per block and added to the features (MONAI blocks)",
                published="[time, condition] embeddings scale-shift the normalised features (OpenAI UNet)",
            ),
            Deviation(
                kind="weights",
                what="conditioning encoder",
                used=f"{options.encoder} pretrained here on the healthy training slices by dense patch masking "
                f"(ratio {options.mask_ratio:g}, masked patches zeroed at the input, single-scale light decoder)",
                published="ResNet-50 pretrained with SparK (sparse convolutions, 4-level decoder) on IXI",
            ),
            Deviation(
                kind="default",
                what="training augmentation",
                used="none",
                published="TorchIO gamma, bias field, blur and ghosting (official config aug_intensity)",
            ),
        ]
        return found

    @property
    def provenance(self) -> dict[str, Any]:
        """The parent's facts and the encoder pretraining's loss curve."""
        facts = super().provenance
        history = self.pretraining
        if history is not None:
            facts["encoder_pretraining"] = {
                "epochs": history.completed,
                "train_loss": list(history.train_loss),
                "seconds_per_epoch": list(history.seconds),
                "resumed_at": list(history.resumed_at),
                "checkpoint_dir": self._facts.get("encoder_checkpoint_dir"),
            }
        return facts

    # --- training ---------------------------------------------------------------------------
    def build_model(self, in_channels: int) -> torch.nn.Module:
        """The encoder and conditioned UNet of the options' size for ``in_channels`` modalities."""
        return CDDPMNetwork(self.options, in_channels)

    def epoch_batches(self, data: HealthySlices, epoch: int, generator: torch.Generator) -> LazyBatches[Batch]:
        """One epoch of the DDPM stage, as ``ddpm``'s but never a single-slice batch (BatchNorm)."""
        del epoch
        parts = _split(self._order(data, generator), self.options.batch_size)
        return LazyBatches(parts, lambda positions: self._training_batch(data.batch(positions), generator))

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """L1 between the clean slice and the x0 prediction conditioned on the clean slice's embedding."""
        start, clean, _, noise, steps, _ = batch
        noisy = self._scheduler.add_noise(original_samples=start, noise=noise, timesteps=steps)
        prediction = model(noisy, steps, start).float()
        return (prediction - clean).abs().mean()

    def fit(
        self,
        train: SliceSet,
        pseudo_masks: MaskSet | None = None,
        *,
        validation: SliceSet | None = None,
        validation_masks: MaskSet | None = None,
    ) -> None:
        """Pretrain the encoder (cached), then train the DDPM on the healthy slices (see the base class)."""
        super().fit(train, pseudo_masks, validation=validation, validation_masks=validation_masks)
        if self.pretraining is not None:
            self._facts |= {
                "encoder_pretraining_epochs": self.pretraining.completed,
                "encoder_pretraining_final_loss": self.pretraining.train_loss[-1],
                "encoder_checkpoint_dir": self._encoder_dir,
            }

    def run_training(
        self,
        model: torch.nn.Module,
        data: HealthySlices,
        validate: Callable[[], float] | None,
        checkpoint_dir: Path,
    ) -> TrainingHistory:
        """Pretrain the encoder, copy its trunk into ``model``, then the DDPM stage of the base class."""
        if not isinstance(model, CDDPMNetwork):
            raise ContractError(f"cddpm: expected a CDDPMNetwork, got {type(model).__name__}")
        encoder, self.pretraining = self.pretrain_encoder(data)
        # The projection to the embedding is trained with the DDPM (the official code drops the pretrained fc).
        model.encoder.trunk.load_state_dict(encoder.trunk.state_dict())
        return super().run_training(model, data, validate, checkpoint_dir)

    def pretrain_encoder(self, data: HealthySlices) -> tuple[ConditioningEncoder, TrainingHistory]:
        """The encoder after masked-image-modelling on ``data`` (resumed or reused from ``context.work_dir``)."""
        from wsad_core.training import train

        options, channels = self.options, int(data.slices.images.shape[1])
        directory = self._pretraining_dir(data, channels)
        self._encoder_dir = str(directory)

        def build() -> MaskedImageModel:
            encoder = ConditioningEncoder(channels, options.encoder, options.condition_dim)
            return MaskedImageModel(encoder, channels, options.decoder_width)

        network = seeded_init(self.context, _PRETRAIN_INIT_STREAM, build)
        optimizer = torch.optim.Adam(network.parameters(), lr=options.pretrain_learning_rate)
        with seeded_global_rng(self.context, _PRETRAIN_TRAIN_STREAM):
            history = train(
                model=network,
                optimizer=optimizer,
                loss_fn=_masked_loss,
                batches=functools.partial(self._pretraining_batches, data),
                epochs=options.pretrain_epochs,
                context=self.context,
                checkpoint_dir=directory,
                description=f"{self.method} encoder",
            )
        return network.encoder, history

    def _pretraining_batches(
        self, data: HealthySlices, epoch: int, generator: torch.Generator
    ) -> LazyBatches[tuple[torch.Tensor, torch.Tensor]]:
        """One pretraining epoch: the DDPM's slice sampling, a fresh patch mask per slice."""
        del epoch
        options = self.options
        parts = _split(self._order(data, generator), options.pretrain_batch_size)

        def make(positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            images, _ = data.batch(positions)
            masked = patch_mask(len(positions), options.image_size, options.patch, options.mask_ratio, generator)
            return images, masked.to(images.device)

        return LazyBatches(parts, make)

    def _pretraining_dir(self, data: HealthySlices, channels: int) -> Path:
        """Keyed by what the pretraining depends on: its options, the seed and the training slices."""
        names = (
            "image_size", "encoder", "condition_dim", "decoder_width", "mask_ratio", "mask_patch",
            "pretrain_epochs", "pretrain_batch_size", "pretrain_learning_rate", "epoch_sampling",
        )  # fmt: skip
        header = [f"{self.format}/encoder", {n: getattr(self.options, n) for n in names}, channels, self.context.seed]
        key = run_key(header, [(data.slices, data.index)])
        return Path(self.context.work_dir) / f"{self.method}-encoder-{key}"

    # --- prediction -------------------------------------------------------------------------
    def _test_noises(self, images: torch.Tensor, part: slice) -> list[torch.Tensor]:
        """One noise per test timestep and slice, all drawn from the slice's own seeded stream."""
        options, slices = self.options, self._predicting
        rows = range(len(slices))[part]
        per_slice = []
        for i, row in enumerate(rows):
            seed = _slice_seed(self.context.seed, slices.case_ids[row], int(slices.slice_indices[row]))
            generator = torch.Generator().manual_seed(seed)
            per_slice.append(
                [
                    noise_like(
                        images[i : i + 1],
                        options.noise,
                        generator,
                        octaves=options.simplex_octaves,
                        persistence=options.simplex_persistence,
                        frequency=options.simplex_frequency,
                    )
                    for _ in options.test_timesteps
                ]
            )
        return [torch.cat([noises[k] for noises in per_slice]) for k in range(len(options.test_timesteps))]

    def reconstruct(self, model: torch.nn.Module, images: torch.Tensor, part: slice) -> torch.Tensor:
        """The mean of the one-step reconstructions from each of ``test_timesteps``, one embedding per slice."""
        embedding = model.encoder(images)
        total = torch.zeros_like(images, dtype=torch.float32)
        for t, noise in zip(self.options.test_timesteps, self._test_noises(images, part), strict=True):
            # The official test step calls the diffusion with t - 1 (0-based index of step t).
            steps = torch.full((images.shape[0],), t - 1, device=images.device, dtype=torch.long)
            noisy = self._scheduler.add_noise(original_samples=images, noise=noise, timesteps=steps)
            total += model.unet(noisy, steps, embedding).float()
        return total / len(self.options.test_timesteps)
