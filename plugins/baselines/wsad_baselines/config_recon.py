"""Options of the unsupervised reconstruction baselines ``ae`` (Baur et al.) and ``dae`` (Kascenas et al.).

Defaults are the published configurations; section numbers refer to
``shared/docs/baselines.md``. Fields marked *size* in their description are the ones a
CPU run shrinks. Every option named in ``METHOD_FIELDS_*`` (the published method's
settings, not speed knobs) that differs from its default is reported as a ``setting``
deviation on every result row.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["METHOD_FIELDS_AE", "METHOD_FIELDS_DAE", "AEOptions", "DAEOptions"]

# `epochs` of the AE is a cap of wsad's, not a published setting: `ae` reports it only when it bound.
# `selection` is reported as a `selection` deviation, not a setting.
METHOD_FIELDS_AE = (
    "image_size", "encoder_channels", "decoder_channels", "bottleneck", "bottleneck_channels", "latent_dim",
    "dropout", "patience", "batch_size", "learning_rate", "adam_beta1", "residual", "erosion_iterations",
    "hyperintensity_quantile", "median", "median_size",
)  # fmt: skip
METHOD_FIELDS_DAE = (
    "image_size", "channels", "noise_std", "noise_resolution", "noise_shift", "epochs", "iterations_per_epoch",
    "batch_size", "learning_rate", "weight_decay", "grad_clip", "cosine_period", "validation_batches", "median_size",
)  # fmt: skip


def _powers_of_two_fit(size: int, levels: int, what: str) -> None:
    if size % (2**levels):
        raise ValueError(f"image_size {size} must be divisible by 2**{levels} for {levels} {what}")


class AEOptions(BaseModel):
    """Options of ``ae``: the dense-bottleneck convolutional autoencoder of Baur et al. (MedIA 2021)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: int = Field(
        128, ge=16, description="Size: slices are resized to this square size inside the method (published: 128²)."
    )
    encoder_channels: tuple[int, ...] = Field(
        (32, 64, 128, 128),
        description="Size: filters of the stride-2 5x5 encoder convolutions (published: 32, 64, 128, 128).",
    )
    decoder_channels: tuple[int, ...] = Field(
        (128, 64, 32, 32), description="Size: filters of the stride-2 5x5 transposed decoder convolutions (published)."
    )
    bottleneck: Literal["dense", "spatial"] = Field(
        "dense",
        description="'dense': 1x1 conv, flatten, Dense(latent_dim), Dense back (published); 'spatial': 1x1 convs only.",
    )
    bottleneck_channels: int = Field(
        16, ge=1, description="Channels of the 1x1 conv before flattening (published: 128 / 8 = 16)."
    )
    latent_dim: int = Field(128, ge=1, description="Size: dense latent dimension z (published: 128).")
    dropout: float = Field(
        0.2, ge=0, lt=1, description="Dropout on z and on the dense decoder input while training (published)."
    )
    epochs: int = Field(
        100, ge=1, description="Size: most training epochs; early stopping usually ends sooner (published)."
    )
    patience: int = Field(
        5, ge=0, description="Stop after this many epochs without validation improvement (published: 5; 0 disables)."
    )
    selection: Literal["last", "best-validation"] = Field(
        "last",
        description="Weights kept when training ends: the last epoch's (official code) or the best validation loss.",
    )
    batch_size: int = Field(128, ge=1, description="Size: slices per step (published: 128).")
    learning_rate: float = Field(1e-4, gt=0, description="Adam learning rate (published: 1e-4).")
    adam_beta1: float = Field(0.5, gt=0, lt=1, description="Adam beta1 (official config: 0.5).")
    residual: Literal["positive", "absolute"] = Field(
        "positive",
        description="Score max(x - x_hat, 0) (published: the official keepOnlyPositiveResiduals) or |x - x_hat|.",
    )
    erosion_iterations: int = Field(
        12,
        ge=0,
        description="Brain-mask erosion steps (4-connected) at the internal size before scoring (published: 12).",
    )
    hyperintensity_quantile: float | None = Field(
        0.9,
        gt=0,
        lt=1,
        description="Zero the residual where the input is below this quantile of its volume (published: 0.9); "
        "null disables.",
    )
    median: Literal["3d", "2d", "none"] = Field(
        "3d", description="Median filter of the residual: within each volume (published: 5³), per slice, or none."
    )
    median_size: int = Field(5, ge=1, description="Median window side in pixels/slices (published: 5).")
    predict_batch_size: int = Field(32, ge=1, description="Slices per forward pass when predicting.")

    @model_validator(mode="after")
    def _check(self) -> AEOptions:
        if not self.encoder_channels or len(self.decoder_channels) != len(self.encoder_channels):
            raise ValueError("encoder_channels and decoder_channels need the same, non-zero number of entries")
        if any(c < 1 for c in (*self.encoder_channels, *self.decoder_channels)):
            raise ValueError("channel counts must be positive")
        _powers_of_two_fit(self.image_size, len(self.encoder_channels), "stride-2 encoder levels")
        return self


class DAEOptions(BaseModel):
    """Options of ``dae``: the denoising U-Net of Kascenas et al. (MIDL 2022)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: int = Field(
        128, ge=16, description="Size: slices are resized bilinearly to this square size (published: 128²)."
    )
    channels: tuple[int, ...] = Field(
        (64, 128, 256, 512),
        description="Size: U-Net features per level, one level per entry (published: depth 4, 64..512).",
    )
    noise_std: float = Field(0.2, ge=0, description="Standard deviation of the coarse Gaussian noise (published: 0.2).")
    noise_resolution: int = Field(
        16, ge=1, description="Side of the noise grid before bilinear up-sampling (published: 16)."
    )
    noise_shift: Literal["batch", "sample"] = Field(
        "batch", description="Random circular shift of the noise: one per batch (official code) or one per sample."
    )
    epochs: int = Field(
        2100,
        ge=1,
        description="Size: pseudo-epochs of iterations_per_epoch steps (published: 2100 = 67,200 iterations).",
    )
    iterations_per_epoch: int = Field(
        32, ge=1, description="Size: optimisation steps per pseudo-epoch (published: 32)."
    )
    batch_size: int = Field(16, ge=1, description="Size: slices per step (published: 16).")
    learning_rate: float = Field(1e-4, gt=0, description="Adam (amsgrad) learning rate (published: 1e-4).")
    weight_decay: float = Field(1e-5, ge=0, description="Adam weight decay (published: 1e-5).")
    grad_clip: float = Field(0.5, gt=0, description="Maximum gradient norm (published: 0.5).")
    cosine_period: int = Field(
        100, ge=1, description="T_max of the cosine schedule, stepped per pseudo-epoch and cycling (published: 100)."
    )
    validation_batches: int = Field(
        32,
        ge=1,
        description="Size: validation batches (healthy validation slices, fixed noise) per pseudo-epoch (published).",
    )
    selection: Literal["best-validation", "last"] = Field(
        "best-validation",
        description="Weights kept: lowest validation loss (published; 'last' without healthy validation slices) "
        "or last.",
    )
    median_size: int = Field(
        5, ge=1, description="Side of the 2-D median filter of the residual (published: 5; 1 disables)."
    )
    predict_batch_size: int = Field(32, ge=1, description="Slices per forward pass when predicting.")

    @model_validator(mode="after")
    def _check(self) -> DAEOptions:
        if len(self.channels) < 2 or any(c < 2 for c in self.channels):
            raise ValueError(f"channels needs at least two entries >= 2, got {self.channels}")
        _powers_of_two_fit(self.image_size, len(self.channels) - 1, "pooling levels")
        return self
