"""cDDPM's conditioning encoder and its SparK-style masked-image-modelling pretraining.

The encoder (spec §6.3; official ``DDPM_encoder.py``/``spark/models.py``): a ResNet whose stem takes the
slice's C modalities (the official timm model is built with ``in_chans=1``), global average pooling and a
linear layer to the ``condition_dim``-d embedding (512 published). Here the ResNet is torchvision's
(ResNet-50 published, ResNet-18 for CPU runs).

Pretraining (official ``Spark_2D.py``, config ``Spark_2D_pretrain.yaml``): a random set of the patches of a
grid is masked — exactly ``round(cells x (1 - ratio))`` kept per image, ratio 0.65, a patch being one cell of
the encoder's stride-32 feature map — the encoder sees the visible patches, the masked cells of its feature
map are filled with a learnt mask token, a light decoder (transposed-convolution stages of halving width)
reconstructs the image, and the loss is the MSE on the masked patches only (``dense_loss: False``,
``loss_l2: True``, no per-patch normalisation). SparK proper encodes the visible patches with sparse
convolutions and decodes a 4-level feature pyramid; here the masked patches are zeroed at the input of a
dense ResNet and the decoder reads the last feature map only (a recorded deviation). The projection to the
embedding is not pretrained: the official code drops the pretrained ``fc`` and trains it with the DDPM.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from wsad_diffusion.config_cddpm import ENCODER_STRIDE

__all__ = [
    "ENCODER_FEATURES",
    "ConditioningEncoder",
    "LightDecoder",
    "MaskedImageModel",
    "masked_mse",
    "patch_mask",
]

EncoderName = Literal["resnet50", "resnet18"]

#: Channels of the last feature map (ResNet-50: 4 x 512 bottleneck expansion; ResNet-18: 512).
ENCODER_FEATURES: dict[str, int] = {"resnet50": 2048, "resnet18": 512}


class ConditioningEncoder(nn.Module):
    """A torchvision ResNet on ``in_channels`` modalities, pooled and projected to ``condition_dim``.

    Args:
        in_channels: modalities of the slices (the stem's input channels).
        name: ``"resnet50"`` (published) or ``"resnet18"``.
        condition_dim: width of the embedding.
    """

    def __init__(self, in_channels: int, name: EncoderName, condition_dim: int) -> None:
        super().__init__()
        import torchvision

        network = getattr(torchvision.models, name)(weights=None)
        # The stem adapted to the slices' modalities; same 7x7 stride-2 convolution otherwise.
        network.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.trunk = nn.Sequential(
            network.conv1,
            network.bn1,
            network.relu,
            network.maxpool,
            network.layer1,
            network.layer2,
            network.layer3,
            network.layer4,
        )
        self.features = ENCODER_FEATURES[name]
        self.projection = nn.Linear(self.features, condition_dim)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """The last feature map ``(B, features, ⌈H/32⌉, ⌈W/32⌉)``."""
        return self.trunk(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The embedding ``(B, condition_dim)`` of ``images`` ``(B, C, H, W)``."""
        return self.projection(self.feature_map(images).mean(dim=(2, 3)))


def patch_mask(count: int, size: int, patch: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """A bool mask ``(count, 1, size, size)``, True on the masked patches of a ``patch``-pixel grid.

    Each image keeps exactly ``round(cells x (1 - ratio))`` random patches visible (SparK's ``len_keep``),
    drawn on the CPU from ``generator``.
    """
    grid = size // patch
    cells = grid * grid
    kept = round(cells * (1 - ratio))
    order = torch.rand(count, cells, generator=generator).argsort(dim=1)
    masked = torch.ones(count, cells, dtype=torch.bool)
    masked.scatter_(1, order[:, :kept], False)
    cells_mask = masked.view(count, 1, grid, grid)
    return cells_mask.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)


def masked_mse(reconstruction: torch.Tensor, target: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked pixels (all channels) only: SparK's loss on the removed patches.

    Patches have equal sizes, so this equals SparK's mean over masked patches of the per-patch mean.
    """
    weight = masked.to(reconstruction.dtype).expand_as(reconstruction)
    return ((reconstruction - target) ** 2 * weight).sum() / weight.sum().clamp_min(1.0)


class LightDecoder(nn.Module):
    """SparK's light decoder: ``log2(stride)`` stages of ×2 transposed convolution and two 3×3 convolutions.

    Stage ``i`` maps ``width / 2**i`` to ``width / 2**(i+1)`` channels (BatchNorm, ReLU6 between); a 1×1
    convolution gives the ``out_channels`` image.
    """

    def __init__(self, width: int, out_channels: int, stride: int = ENCODER_STRIDE) -> None:
        super().__init__()
        stages = round(math.log2(stride))
        widths = [max(1, width // 2**i) for i in range(stages + 1)]
        self.stages = nn.Sequential(
            *(
                nn.Sequential(
                    nn.ConvTranspose2d(c_in, c_in, kernel_size=4, stride=2, padding=1),
                    nn.Conv2d(c_in, c_in, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c_in),
                    nn.ReLU6(inplace=True),
                    nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c_out),
                )
                for c_in, c_out in itertools.pairwise(widths)
            )
        )
        self.project = nn.Conv2d(widths[-1], out_channels, kernel_size=1)
        # SparK's LightDecoder.initialize: convolutions N(0, 0.02) truncated, transposed ones Kaiming
        # (fan-out), zero biases: the untrained decoder outputs ~0 rather than unit-scale noise.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.trunc_normal_(module.weight, std=0.02)
            elif isinstance(module, nn.ConvTranspose2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The image ``(B, out_channels, stride x h, stride x w)`` from ``features`` ``(B, width, h, w)``."""
        return self.project(self.stages(features))


class MaskedImageModel(nn.Module):
    """The pretraining network: encoder trunk, mask tokens on the feature map, light decoder.

    Args:
        encoder: the conditioning encoder whose trunk is pretrained (its projection is not used).
        out_channels: modalities to reconstruct.
        decoder_width: channels of the decoder's first stage.
    """

    def __init__(self, encoder: ConditioningEncoder, out_channels: int, decoder_width: int) -> None:
        super().__init__()
        self.encoder = encoder
        features = encoder.features
        self.norm = nn.BatchNorm2d(features)  # SparK's encoder-to-decoder BatchNorm
        self.mask_token = nn.Parameter(torch.zeros(1, features, 1, 1))
        nn.init.trunc_normal_(self.mask_token, std=0.02, a=-0.02, b=0.02)  # SparK's initialisation
        self.bridge = nn.Conv2d(features, decoder_width, kernel_size=1)
        self.decoder = LightDecoder(decoder_width, out_channels)

    def forward(self, images: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``images`` ``(B, C, H, W)`` from their visible patches (``masked`` False)."""
        visible = images * (~masked).to(images.dtype)
        features = self.norm(self.encoder.feature_map(visible))
        # A cell becomes the mask token only when all its pixels are masked (with stride-sized patches:
        # exactly SparK's masked cells; with smaller patches, cells that also see visible pixels keep them).
        covered = F.adaptive_avg_pool2d(masked.to(images.dtype), features.shape[-2:])
        features = torch.where(covered > 1 - 1e-6, self.mask_token.to(features.dtype), features)
        reconstruction = self.decoder(self.bridge(features))
        if reconstruction.shape[-2:] != images.shape[-2:]:  # sizes that are not multiples of the stride
            reconstruction = F.interpolate(reconstruction, size=images.shape[-2:], mode="bilinear")
        return reconstruction

    def loss(self, images: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """MSE on the masked patches of the reconstruction from the visible ones."""
        return masked_mse(self(images, masked).float(), images.float(), masked)
