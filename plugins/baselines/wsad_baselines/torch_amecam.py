"""Networks of AME-CAM (baselines.md §1).

ResNet-18 with instance norm, its multi-exit CAM classifier, the SimCLR projection model
and the attention aggregation network.

Pure ``nn.Module`` definitions; the classifier and the SimCLR model share the backbone
class, so stage-0 weights are copied into stage 1 by parameter name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AttentionAggregator", "MultiExitClassifier", "ResNet18IN", "SimCLRModel", "minmax"]


def _norm(channels: int) -> nn.Module:
    # §1: InstanceNorm2d (non-affine, no running statistics) instead of BatchNorm.
    return nn.InstanceNorm2d(channels)


class _BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.norm1 = _norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm2 = _norm(channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False), _norm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(out)) + self.shortcut(x))


class ResNet18IN(nn.Module):
    """ResNet-18 (7x7/2 stem, 3x3/2 max-pool, 4 stages of 2 basic blocks) returning the 4 stage maps.

    At 240² input the stages are 60², 30², 15² and 8² (§1).

    Args:
        in_channels: input channels (3 for the RGB-replicated grey slices of the paper).
        width: stem width; the stages have 1, 2, 4, 8 times it (64 in the paper).
    """

    def __init__(self, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        self.widths = (width, 2 * width, 4 * width, 8 * width)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 7, 2, 3, bias=False), _norm(width), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        )
        stages, previous = [], width
        for index, channels in enumerate(self.widths):
            stride = 1 if index == 0 else 2
            stages.append(nn.Sequential(_BasicBlock(previous, channels, stride), _BasicBlock(channels, channels, 1)))
            previous = channels
        self.stages = nn.ModuleList(stages)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The four stage feature maps of ``images`` ``(B, C, H, W)``."""
        x = self.stem(images)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class SimCLRModel(nn.Module):
    """Stage 0: backbone, global average pool and the projection 512 -> 512 (no bias) -> ReLU -> 256 (§1)."""

    def __init__(self, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        self.backbone = ResNet18IN(in_channels, width)
        features = self.backbone.widths[-1]
        self.projection = nn.Sequential(
            nn.Linear(features, features, bias=False), nn.ReLU(), nn.Linear(features, features // 2)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Projections ``(B, 8 * width / 2)``."""
        pooled = self.backbone(images)[-1].mean(dim=(-2, -1))
        return self.projection(pooled)


class MultiExitClassifier(nn.Module):
    """Stage 1: one 1x1 conv exit per stage gives CAM_i; logit_i = global average of CAM_i (§1)."""

    def __init__(self, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        self.backbone = ResNet18IN(in_channels, width)
        self.exits = nn.ModuleList(nn.Conv2d(channels, 1, 1) for channels in self.backbone.widths)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits ``(B, 4)`` and the four CAMs ``(B, 1, h_i, w_i)`` at their stage resolution."""
        cams = [exit_(feature) for exit_, feature in zip(self.exits, self.backbone(images), strict=True)]
        logits = torch.cat([cam.mean(dim=(-2, -1)) for cam in cams], dim=1)
        return logits, cams

    def upsampled_cams(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the four CAMs bilinearly up-sampled to the input size, stacked ``(B, 4, H, W)``."""
        logits, cams = self(images)
        size = images.shape[-2:]
        up = [F.interpolate(cam, size=size, mode="bilinear", align_corners=False) for cam in cams]
        return logits, torch.cat(up, dim=1)


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel ``(m - min + 1e-5) / (max - min + 1e-5)`` over the spatial axes (§1)."""
    flat = maps.flatten(2)
    low = flat.min(dim=2, keepdim=True).values
    high = flat.max(dim=2, keepdim=True).values
    return ((flat - low + 1e-5) / (high - low + 1e-5)).view_as(maps)


class AttentionAggregator(nn.Module):
    """Stage 2: per-pixel softmax weights over the 4 CAMs from the grey image times the min-maxed CAMs (§1).

    ``3 x [Conv3x3 -> 32, BN, ReLU] -> Conv3x3 -> 4, BN, ReLU -> softmax``; the aggregated map
    is the weighted sum of the *raw* up-sampled CAMs.
    """

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 4
        for channels in (hidden, hidden, hidden, 4):
            layers += [nn.Conv2d(previous, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
            previous = channels
        self.attention = nn.Sequential(*layers)

    def forward(self, grey: torch.Tensor, cams: torch.Tensor) -> torch.Tensor:
        """Aggregated map ``(B, 1, H, W)`` from the grey image ``(B, 1, H, W)`` and raw CAMs ``(B, 4, H, W)``."""
        weights = torch.softmax(self.attention(grey * minmax(cams)), dim=1)
        return (cams * weights).sum(dim=1, keepdim=True)
