"""The denoising network and noise schedule, from MONAI's generative components.

The published networks are OpenAI's UNet (Dhariwal & Nichol) as configured by Behrendt et al.;
MONAI's :class:`~monai.networks.nets.DiffusionModelUNet` has the same layout (residual blocks with a
time embedding, stride-2 residual down/up-sampling with ``resblock_updown``, an attention middle block,
GroupNorm(32), SiLU) with one difference recorded on every result: the time embedding is added to the
features, where the configured OpenAI UNet scales and shifts the normalised features by it
(``use_scale_shift_norm``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from monai.networks.schedulers import DDPMScheduler

    from wsad_diffusion.config import DDPMOptions

__all__ = ["build_scheduler", "build_unet", "predict_x0"]


def build_unet(options: DDPMOptions, in_channels: int) -> torch.nn.Module:
    """The x0-predicting UNet of ``options`` for ``in_channels`` modalities (no attention outside the middle block)."""
    from monai.networks.nets import DiffusionModelUNet

    levels = len(options.channels)
    return DiffusionModelUNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=in_channels,
        channels=tuple(options.channels),
        attention_levels=(False,) * levels,
        num_res_blocks=options.num_res_blocks,
        num_head_channels=options.num_head_channels,
        norm_num_groups=options.norm_groups,
        resblock_updown=True,
    )


def build_scheduler(options: DDPMOptions) -> DDPMScheduler:
    """The forward process: ``timesteps`` steps of the configured schedule, the network predicting x0."""
    from monai.networks.schedulers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=options.timesteps, schedule=options.schedule, prediction_type="sample", clip_sample=False
    )


def predict_x0(model: torch.nn.Module, noisy: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """The network's estimate of the clean image from ``noisy`` at ``timesteps`` (one step, ``pred_x0``)."""
    return model(noisy, timesteps)
