"""Options of ``cddpm``: the defaults are the published configuration.

Sources (``shared/docs/baselines.md`` of the wsad project, §6.3, §6.4; the official code
FinnBehrendt/Conditioned-Diffusion-Models-UAD, configs ``DDPM_cond_spark_2D.yaml``,
``Spark_2D_pretrain.yaml``, ``model/Spark_2D.yaml``, ``datamodule/IXI.yaml``): the DDPM of ``ddpm``
(§6.2: OpenAI UNet 128 x (1, 2, 2), 3 residual blocks, T = 1000 cosine, ``pred_x0``, L1, simplex
noise, Adam 1e-4, batch 32, one slice per volume and epoch, 96² inputs), not patched, conditioned on a
512-d embedding of the clean input slice (§6.3; the official code sets ``cond_dim = unet_dim * 4 = 512``)
from a ResNet-50 pretrained with SparK masking (mask ratio 0.65, §6.3; L2 loss on the masked patches
only, 1200 epochs, Adam 1e-4, batch 32 in the official pretraining config; a light decoder of width 512
halving per up-sampling). Test: the mean of the reconstructions from t = 250, 500 and 750 (§6.3).
Fields whose description starts with "Size" are what CPU runs shrink.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from wsad_diffusion.config import SETTING_FIELDS, DDPMOptions

__all__ = ["CDDPM_SETTING_FIELDS", "ENCODER_STRIDE", "CDDPMOptions"]

#: Total stride of the torchvision ResNets (stem 4, then 2 x 2 x 2): SparK's patch is one feature-map cell.
ENCODER_STRIDE = 32

#: Options compared with their published defaults on every result (test_timestep is not cddpm's).
CDDPM_SETTING_FIELDS = (
    *(name for name in SETTING_FIELDS if name != "test_timestep"),
    "test_timesteps", "condition_dim", "encoder", "pretrain_epochs", "pretrain_batch_size",
    "pretrain_learning_rate", "mask_ratio", "mask_patch", "decoder_width",
)  # fmt: skip


class CDDPMOptions(DDPMOptions):
    """Options of ``cddpm``: the DDPM conditioned on an encoder's embedding of the clean input slice."""

    test_timestep: int = Field(
        500,
        ge=1,
        description="Not used by cddpm (its noise levels are test_timesteps); any value but 500 is an error.",
    )
    test_timesteps: tuple[int, ...] = Field(
        (250, 500, 750),
        min_length=1,
        description="Noise levels t whose one-step reconstructions are averaged at test (published: 250, 500, "
        "750); as in the official code the forward process is evaluated at index t - 1.",
    )
    condition_dim: int = Field(
        512, ge=1, description="Size: the encoder's embedding width (published: 512 = 4 x the UNet's base width)."
    )
    encoder: Literal["resnet50", "resnet18"] = Field(
        "resnet50", description="Size: conditioning encoder, a torchvision ResNet (published: ResNet-50)."
    )
    pretrain_epochs: int = Field(
        1200, ge=1, description="Size: masked-image-modelling epochs of the encoder (official config: 1200)."
    )
    pretrain_batch_size: int = Field(32, ge=1, description="Size: slices per pretraining step (official: 32).")
    pretrain_learning_rate: float = Field(1e-4, gt=0, description="Adam learning rate of the pretraining (1e-4).")
    mask_ratio: float = Field(
        0.65, gt=0, lt=1, description="Fraction of the patch grid masked in pretraining (published: 0.65)."
    )
    mask_patch: int | None = Field(
        None,
        ge=1,
        description="Side of the masked patches in pixels at image_size; None = the encoder's total stride "
        "(32: one feature-map cell, as in SparK).",
    )
    decoder_width: int = Field(
        512, ge=1, description="Size: channels of the pretraining decoder's first stage, halved per stage (512)."
    )

    @property
    def patch(self) -> int:
        """The masked patch side in pixels (``mask_patch``, else the encoder's stride)."""
        return self.mask_patch or ENCODER_STRIDE

    @model_validator(mode="after")
    def _consistent(self) -> CDDPMOptions:
        # Same name as DDPMOptions' validator, so it replaces it: test_timestep is not checked here.
        # Dumped options carry the default back in (save/load round trips); any other value is a mistake.
        if self.test_timestep != type(self).model_fields["test_timestep"].default:
            raise ValueError("cddpm averages over test_timesteps; test_timestep is not one of its options")
        bad_steps = [t for t in self.test_timesteps if not 1 <= t <= self.timesteps]
        if bad_steps:
            raise ValueError(f"test_timesteps {bad_steps} must lie in 1..timesteps ({self.timesteps})")
        levels = len(self.channels) - 1
        if self.image_size % (2**levels):
            raise ValueError(f"image_size {self.image_size} must be divisible by 2**{levels} ({levels} down-samplings)")
        bad = [c for c in self.channels if c % self.norm_groups or c % self.num_head_channels]
        if bad:
            raise ValueError(f"channels {bad} must be multiples of norm_groups and num_head_channels")
        if self.image_size % self.patch:
            raise ValueError(f"image_size {self.image_size} must be divisible by the masked patch side {self.patch}")
        cells = (self.image_size // self.patch) ** 2
        kept = round(cells * (1 - self.mask_ratio))
        if not 1 <= kept < cells:
            raise ValueError(
                f"mask_ratio {self.mask_ratio} keeps {kept} of {cells} patches; at least one must be kept and one "
                "masked (use a smaller mask_patch)"
            )
        return self
