"""The ``unet`` baseline's network: a MONAI 2-D U-Net that accepts any slice size."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.nets import UNet
from torch import nn

__all__ = ["ReferenceUNet"]


class ReferenceUNet(nn.Module):
    """MONAI ``UNet`` (2-D, one output logit per pixel) with padding to a valid size.

    Each of the ``len(channels) - 1`` stride-2 levels halves the resolution, so inputs
    are zero-padded at the bottom/right to a multiple of ``2 ** (len(channels) - 1)``
    (zero is the intensity outside the brain) and the logits are cropped back.

    Args:
        in_channels: input modalities.
        channels: feature channels per level, e.g. ``(16, 32, 64, 128)``.
        num_res_units: residual units per block (MONAI's ``num_res_units``).
    """

    def __init__(self, in_channels: int, channels: Sequence[int], num_res_units: int = 0) -> None:
        super().__init__()
        self.multiple = 2 ** (len(channels) - 1)
        self.net = UNet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=1,
            channels=tuple(channels),
            strides=(2,) * (len(channels) - 1),
            num_res_units=num_res_units,
            norm="batch",
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 1, H, W)`` for images ``(B, C, H, W)``."""
        height, width = images.shape[-2:]
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        if pad_h or pad_w:
            images = F.pad(images, (0, pad_w, 0, pad_h))
        return self.net(images)[..., :height, :width]
