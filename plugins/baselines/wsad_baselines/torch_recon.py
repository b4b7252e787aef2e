"""Networks of the reconstruction baselines: Baur et al.'s autoencoder and Kascenas et al.'s denoising U-Net.

Pure ``nn.Module`` definitions written from baselines.md §2 and §3; no data handling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BaurAutoencoder", "DenoisingUNet", "WSConv2d", "group_count"]

# TensorFlow defaults of the official AE (Keras LeakyReLU alpha, BatchNormalization momentum/epsilon).
_TF_LEAKY_SLOPE = 0.3
_TF_BN = {"momentum": 0.01, "eps": 1e-3}


class BaurAutoencoder(nn.Module):
    """Dense-bottleneck convolutional AE (§2).

    Encoder: per level Conv5x5 stride 2 (TF 'same') -> BN -> LeakyReLU. Bottleneck
    ('dense'): Conv1x1 -> ``bottleneck_channels``, flatten, Dense(z), dropout, Dense back,
    dropout, reshape, Conv1x1 -> encoder width ('spatial': the two 1x1 convs with dropout
    between). Decoder: BN -> ReLU, then per level ConvTranspose5x5 stride 2 -> BN ->
    LeakyReLU, and a linear Conv1x1 to the input channels.

    Args:
        in_channels: modalities.
        image_size: square input side (divisible by ``2 ** len(encoder_channels)``).
        encoder_channels: encoder filters per level.
        decoder_channels: decoder filters per level.
        bottleneck: ``"dense"`` or ``"spatial"``.
        bottleneck_channels: channels before flattening.
        latent_dim: size of z.
        dropout: dropout rate (active in training mode only).
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        encoder_channels: Sequence[int],
        decoder_channels: Sequence[int],
        bottleneck: Literal["dense", "spatial"] = "dense",
        bottleneck_channels: int = 16,
        latent_dim: int = 128,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for width in encoder_channels:
            layers += [
                nn.Conv2d(previous, width, 5, stride=2, padding=2),
                nn.BatchNorm2d(width, **_TF_BN),
                nn.LeakyReLU(_TF_LEAKY_SLOPE),
            ]
            previous = width
        self.encoder = nn.Sequential(*layers)
        side = image_size // 2 ** len(encoder_channels)
        self.grid = (bottleneck_channels, side, side)
        self.dense = bottleneck == "dense"
        self.squeeze = nn.Conv2d(previous, bottleneck_channels, 1)
        flat = bottleneck_channels * side * side
        self.to_latent = nn.Linear(flat, latent_dim) if self.dense else nn.Identity()
        self.from_latent = nn.Linear(latent_dim, flat) if self.dense else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.unsqueeze = nn.Conv2d(bottleneck_channels, previous, 1)
        layers = [nn.BatchNorm2d(previous, **_TF_BN), nn.ReLU()]
        for width in decoder_channels:
            layers += [
                nn.ConvTranspose2d(previous, width, 5, stride=2, padding=2, output_padding=1),
                nn.BatchNorm2d(width, **_TF_BN),
                nn.LeakyReLU(_TF_LEAKY_SLOPE),
            ]
            previous = width
        layers.append(nn.Conv2d(previous, in_channels, 1))
        self.decoder = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``(B, C, S, S)`` of ``images`` ``(B, C, S, S)``."""
        code = self.squeeze(self.encoder(images))
        if self.dense:
            latent = self.dropout(self.to_latent(code.flatten(1)))
            code = self.dropout(self.from_latent(latent)).view(-1, *self.grid)
        else:
            code = self.dropout(code)
        return self.decoder(self.unsqueeze(code))


class WSConv2d(nn.Conv2d):
    """Convolution with weight standardisation: each filter is centred and divided by its std (+1e-5)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Convolve with the standardised weights."""
        weight = self.weight
        centred = weight - weight.mean(dim=(1, 2, 3), keepdim=True)
        scale = centred.flatten(1).std(dim=1).view(-1, 1, 1, 1) + 1e-5
        return F.conv2d(images, centred / scale, self.bias, self.stride, self.padding, self.dilation, self.groups)


def group_count(channels: int) -> int:
    """GroupNorm groups of the DAE: the middle divisor of ``channels`` (8 for 64, 16 for 128 and 256, 32 for 512)."""
    divisors = sorted({d for i in range(1, math.isqrt(channels) + 1) if channels % i == 0 for d in (i, channels // i)})
    return divisors[len(divisors) // 2]


class _Swish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    # §3: 2x [reflect-pad 1, weight-standardised Conv3x3, Swish, GroupNorm].
    layers: list[nn.Module] = []
    for source in (in_channels, out_channels):
        layers += [
            nn.ReflectionPad2d(1),
            WSConv2d(source, out_channels, 3),
            _Swish(),
            nn.GroupNorm(group_count(out_channels), out_channels),
        ]
    return nn.Sequential(*layers)


class DenoisingUNet(nn.Module):
    """The DAE's U-Net (§3): blocks per level, 2x2 average pooling down, 2x2 transposed convs up, skip concat.

    Args:
        in_channels: modalities; the 1x1 output head reconstructs the same count.
        channels: features per level, e.g. ``(64, 128, 256, 512)``.
    """

    def __init__(self, in_channels: int, channels: Sequence[int]) -> None:
        super().__init__()
        self.down = nn.ModuleList()
        previous = in_channels
        for width in channels:
            self.down.append(_block(previous, width))
            previous = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(channels[:-1]):
            self.up.append(nn.ConvTranspose2d(previous, width, 2, stride=2))
            self.merge.append(_block(2 * width, width))
            previous = width
        self.head = nn.Conv2d(previous, in_channels, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``(B, C, S, S)``; ``S`` divisible by ``2 ** (levels - 1)``."""
        skips = []
        x = images
        for level, block in enumerate(self.down):
            x = block(x)
            if level < len(self.down) - 1:
                skips.append(x)
                x = F.avg_pool2d(x, 2)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)
