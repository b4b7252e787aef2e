"""Patch2Loc's network: ResNet-18 features of a patch plus its slice-position embedding, two MLP heads (μ, log σ²)."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

__all__ = ["Patch2LocNet", "beta_nll", "position_embedding"]


def position_embedding(position: torch.Tensor, width: int) -> torch.Tensor:
    """Sinusoidal ``(N, width)`` embedding of slice positions in [0, 100] (the transformer's frequencies)."""
    half = width // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, device=position.device) / half)
    angles = position.float()[:, None] * frequencies[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def _head(width: int) -> nn.Sequential:
    sizes = (width, 512, 128, 64, 32)
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], 2))


class Patch2LocNet(nn.Module):
    """``(patches (N, C, P, P), positions (N,)) -> (μ (N, 2), log σ² (N, 2))`` in percent of the slice side."""

    def __init__(self, in_channels: int = 1, latent_dim: int = 512) -> None:
        super().__init__()
        from torchvision.models import resnet18

        backbone = resnet18(weights=None)  # random init (published)
        # §5: a 3x3 stride-2 stem for small patches, padding 3 as in the official code.
        backbone.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=2, padding=3, bias=False)
        backbone.fc = nn.Identity()  # type: ignore[assignment]
        self.backbone = backbone
        self.project = nn.Identity() if latent_dim == 512 else nn.Linear(512, latent_dim)
        self.latent_dim = latent_dim
        self.mean_head = _head(latent_dim)
        self.log_variance_head = _head(latent_dim)

    def forward(self, patches: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Location mean and log-variance of each patch."""
        features = self.project(self.backbone(patches)) + position_embedding(positions, self.latent_dim)
        return self.mean_head(features), self.log_variance_head(features)


def beta_nll(mean: torch.Tensor, log_variance: torch.Tensor, target: torch.Tensor, beta: float) -> torch.Tensor:
    """β-NLL (Seitzer et al. 2022): ½[(t − μ)²/σ² + log σ²] · sg(σ²)^β, summed over the 2 coordinates, patch mean."""
    variance = log_variance.exp()
    nll = 0.5 * ((target - mean) ** 2 / variance + log_variance)
    if beta > 0:
        nll = nll * variance.detach() ** beta
    return nll.sum(dim=1).mean()
