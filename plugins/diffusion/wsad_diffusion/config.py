"""Options of ``ddpm``, ``pddpm`` and ``mddpm``: the defaults are the published configurations.

Sources (``shared/docs/baselines.md`` of the wsad project, §6.2, §7; the official pDDPM config
``DDPM_patched.yaml``): OpenAI UNet with 128 base channels, multipliers 1/2/2 (channels 128, 256, 256),
3 residual blocks per level, 64-channel attention heads (attention only in the middle block: the
configured attention resolutions 6/12/24 match none of the levels' down-sampling factors 1/2/4),
T = 1000 with the cosine schedule, the network predicts x0 ("pred_x0") with an L1 loss, simplex noise
(6 octaves, persistence 0.8, frequency 64), test noising at t = 500, Adam 1e-4, batch 32, 1600 epochs of
one random slice per training volume, 96² inputs (192² at 2 mm), 48-pixel patches, the checkpoint with
the lowest validation loss. Options listed in ``SETTING_FIELDS`` that differ from their defaults are
reported on every result row; fields whose description starts with "Size" are what CPU runs shrink.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SETTING_FIELDS", "DDPMOptions", "MDDPMOptions", "PDDPMOptions"]

SETTING_FIELDS = (
    "image_size", "channels", "num_res_blocks", "num_head_channels", "timesteps", "schedule", "test_timestep",
    "noise", "simplex_octaves", "simplex_persistence", "simplex_frequency", "epochs", "epoch_sampling",
    "batch_size", "learning_rate", "erosion_iterations", "median_size",
)  # fmt: skip


class DDPMOptions(BaseModel):
    """Options of ``ddpm``: the whole slice noised to ``test_timestep`` and reconstructed in one step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: int = Field(96, ge=16, description="Size: slices are resized to this square inside the method (96).")
    channels: tuple[int, ...] = Field(
        (128, 256, 256), description="Size: UNet channels per level (published: 128 x multipliers 1, 2, 2)."
    )
    num_res_blocks: int = Field(3, ge=1, description="Size: residual blocks per level (published: 3).")
    num_head_channels: int = Field(64, ge=1, description="Channels per attention head (published: 64).")
    norm_groups: int = Field(32, ge=1, description="GroupNorm groups (OpenAI UNet: 32); must divide every width.")
    timesteps: int = Field(1000, ge=2, description="Diffusion steps T (published: 1000).")
    schedule: Literal["cosine", "linear_beta"] = Field("cosine", description="Noise schedule (published: cosine).")
    test_timestep: int = Field(
        500, ge=1, description="t to which test images are noised before reconstruction (published: 500)."
    )
    noise: Literal["simplex", "gaussian"] = Field("simplex", description="Noise of the forward process (simplex).")
    simplex_octaves: int = Field(6, ge=1, description="Simplex noise octaves (published: 6).")
    simplex_persistence: float = Field(0.8, gt=0, description="Amplitude factor per octave (published: 0.8).")
    simplex_frequency: float = Field(64.0, gt=0, description="Coarsest octave's period in pixels (published: 64).")
    epochs: int = Field(1600, ge=1, description="Size: training epochs (published: 1600).")
    epoch_sampling: Literal["slice-per-volume", "all-slices"] = Field(
        "slice-per-volume",
        description="An epoch is one random healthy slice per training volume (published) or every healthy slice "
        "(CPU runs on few patients: more steps per epoch).",
    )
    batch_size: int = Field(32, ge=1, description="Size: slices per step (published: 32).")
    learning_rate: float = Field(1e-4, gt=0, description="Adam learning rate (published: 1e-4).")
    selection: Literal["best-validation", "last"] = Field(
        "best-validation",
        description="Weights kept: the lowest loss on the healthy validation slices (published) or the last epoch's.",
    )
    erosion_iterations: int = Field(
        3, ge=0, description="Brain mask eroded this many times before scoring (published: 3 = floor(96 / 25))."
    )
    median_size: int = Field(5, ge=1, description="3-D median filter of the score per volume (published: 5).")
    predict_batch_size: int = Field(32, ge=1, description="Slices per prediction step (speed only).")

    @model_validator(mode="after")
    def _consistent(self) -> DDPMOptions:
        if self.test_timestep >= self.timesteps:
            raise ValueError(f"test_timestep {self.test_timestep} must be below timesteps {self.timesteps}")
        levels = len(self.channels) - 1
        if self.image_size % (2**levels):
            raise ValueError(f"image_size {self.image_size} must be divisible by 2**{levels} ({levels} down-samplings)")
        bad = [c for c in self.channels if c % self.norm_groups or c % self.num_head_channels]
        if bad:
            raise ValueError(f"channels {bad} must be multiples of norm_groups and num_head_channels")
        return self


class PDDPMOptions(DDPMOptions):
    """Options of ``pddpm``: one grid patch noised at a time, the rest of the slice as clean context."""

    patch_size: int = Field(
        48, ge=4, description="Side of the grid patches in pixels at image_size (published: 48 at 96, a 2x2 grid)."
    )


class MDDPMOptions(PDDPMOptions):
    """Options of ``mddpm``: pDDPM with a masking block on the clean image during training."""

    masking: Literal["fpm-cm", "ipm", "fpm"] = Field(
        "fpm-cm", description="Masking block: FPM-CM (best in the paper), IPM or FPM."
    )
