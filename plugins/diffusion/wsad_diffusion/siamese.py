"""SADM's stage-II segmentation network: a U-Net of DAE blocks, Siamese in ``sadm_res`` (baselines.md §6.4).

From the paper (appendix B.1) and the official ``SegUnet`` (which builds on the DAE's U-Net): per level a
block of 2 x [reflection pad 1, weight-standardised 3x3 convolution, SiLU (Swish), GroupNorm], the group
count being the middle divisor of the width (8 for 64, 16 for 128 and 256, 32 for 512); 2x2 average pooling
down; 2x2 transposed convolutions up, the skip features concatenated, a block; a 1x1 convolution to one
logit channel (the sigmoid is applied by the caller: BCE-with-logits in training, probabilities at test).

* ``residual=False`` (``sadm``): the encoder sees the input only; decoder widths = encoder widths.
* ``residual=True`` (``sadm_res``): one shared encoder runs on the residual ``x - x̂`` and on the input
  ``x``; their features are concatenated per level (residual first, as in the official code), so every
  decoder width is doubled.

Widths are ``base_channels * 2^i`` for ``depth`` levels: the paper's 3 levels 64/128/256 (the default),
the official code's default depth 4 (64 ... 512).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SiameseUNet", "WSConv2d", "group_count", "widths"]


def widths(base_channels: int, depth: int) -> tuple[int, ...]:
    """Encoder widths ``base_channels * 2^i``, ``i < depth``."""
    return tuple(base_channels * 2**i for i in range(depth))


def group_count(channels: int) -> int:
    """The DAE's GroupNorm groups: the middle divisor of ``channels`` (8 for 64, 16 for 128/256, 32 for 512)."""
    divisors = sorted({d for i in range(1, math.isqrt(channels) + 1) if channels % i == 0 for d in (i, channels // i)})
    return divisors[len(divisors) // 2]


class WSConv2d(nn.Conv2d):
    """A convolution with weight standardisation: each filter centred and divided by its std (+1e-5)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Convolve with the standardised weights."""
        centred = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)
        scale = centred.flatten(1).std(dim=1).view(-1, 1, 1, 1) + 1e-5
        return F.conv2d(images, centred / scale, self.bias, self.stride, self.padding, self.dilation, self.groups)


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for source in (in_channels, out_channels):
        layers += [
            nn.ReflectionPad2d(1),
            WSConv2d(source, out_channels, 3),
            nn.SiLU(),
            nn.GroupNorm(group_count(out_channels), out_channels),
        ]
    return nn.Sequential(*layers)


class SiameseUNet(nn.Module):
    """SADM's segmentation U-Net; ``forward(images, reconstructions)`` returns logits ``(B, 1, S, S)``.

    Args:
        in_channels: modalities of the slices (and of the reconstructions).
        channels: encoder widths per level, e.g. ``(64, 128, 256)``.
        residual: ``sadm_res``: the shared encoder also encodes ``images - reconstructions``.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], *, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.levels = len(channels)
        factor = 2 if residual else 1  # concatenated residual and input features
        self.encoder = nn.ModuleList()
        previous = in_channels
        for width in channels:
            self.encoder.append(_block(previous, width))
            previous = width
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for width in reversed(channels[:-1]):
            self.up.append(nn.ConvTranspose2d(factor * previous, factor * width, 2, stride=2))
            self.decoder.append(_block(2 * factor * width, factor * width))
            previous = width
        self.head = nn.Conv2d(factor * channels[0], 1, 1)

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The features of every level, finest first."""
        features = []
        x = images
        for level, block in enumerate(self.encoder):
            if level:
                x = F.avg_pool2d(x, 2)
            x = block(x)
            features.append(x)
        return features

    def forward(self, images: torch.Tensor, reconstructions: torch.Tensor | None = None) -> torch.Tensor:
        """Anomaly logits ``(B, 1, S, S)`` of ``images``; ``sadm_res`` needs their ``reconstructions``.

        Raises:
            ValueError: the residual variant is called without reconstructions.
        """
        features = self.encode(images)
        if self.residual:
            if reconstructions is None:
                raise ValueError("the residual variant needs the reconstructions")
            # One encoder for both inputs (Siamese); residual features first, as in the official code.
            residual = self.encode(images - reconstructions)
            features = [torch.cat((r, f), dim=1) for r, f in zip(residual, features, strict=True)]
        x = features[-1]
        for i, (up, block) in enumerate(zip(self.up, self.decoder, strict=True)):
            x = block(torch.cat((up(x), features[-i - 2]), dim=1))
        return self.head(x)
