"""The RASALoRE network (shared/docs/rasalore.md §7; paper §2.2 and appendix A.9), pure ``nn.Module``.

Shapes at the paper's size (input ``s = 128``, ``k = 1024`` points, ``d = 256``):

* image encoder U: four conv blocks; e2 and e3 run on the *unpooled* 128² maps (as the
  code does, unlike the appendix table), e4 on the pooled e3 output → ``s4`` (B, d, 64, 64);
* refiner R on ``s1``: conv + two stride-1 transposed convs + 1×1 skip, AvgPool(4, 2, 1)
  → ``F_r`` (B, d, 64, 64);
* RASA: ``h`` independent full-width heads, query = LoRE, key = F_r, value = F_r + P
  (P a learned (4096, d) tensor: the figure's "Gaussian noise"), output Linear(h·d → d)
  + LoRE residual → ξ (B, k, d); FFN d→128→64→1 with sigmoid → point activations;
* mask decoder: MHA(query ξ, key s4, value s4 + Pos) → dropout → +ξ → LayerNorm → Y;
  ``S = s4 · Yᵀ`` (B, 4096, k) → LayerNorm over k → (B, k, 64, 64) → ConvT(k→128) →
  ConvT(128→64) → Conv1×1 → logits (B, 1, 256, 256).

Total 7,254,370 parameters (§1). The multimodality variant (§11) has one RASA and one LoRE
per modality and shares everything else.

Two implementations of the same function (``RasaloreNet.configure``): the default **fast**
path keeps activations in channels-last memory (oneDNN's faster convolution layout on CPU),
normalises channels with one fused ``layer_norm`` call instead of seven element-wise ops,
skips the max-pools whose outputs are unused, projects the batch-independent LoRE queries
once instead of once per sample, and feeds the candidate similarities to the up-sampler as
a channels-last view instead of a transposed copy; the **reference** path is the original
operation sequence. Both have the same parameters, draw the same dropout masks and agree to
float32 rounding (tested at 1e-5 relative). ``checkpointing`` recomputes the activations of
each block in the backward pass (``torch.utils.checkpoint``) instead of storing them: less
memory, the same numbers, about one more forward pass of time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from wsad_rasalore.config import Geometry

__all__ = [
    "ChannelsFirstLayerNorm",
    "ImageEncoder",
    "MaskDecoder",
    "NetOutput",
    "RasaloreNet",
    "Refiner",
    "RegionAwareSpatialAttention",
]

_T = TypeVar("_T")
_FFN_HIDDEN = (128, 64)  # §7: Linear d→128, ReLU, LN, Linear 128→64, ReLU, LN, Linear 64→1, sigmoid
_UPSAMPLER = (128, 64)  # §7: ConvT k→128, ConvT 128→64, Conv1×1 64→1
_DROPOUT = 0.1


class NetOutput(NamedTuple):
    """What one forward pass yields."""

    logits: torch.Tensor  # (B, 1, 2s, 2s), sigmoid outside the module
    activations: torch.Tensor  # (B, k) point activations in (0, 1)
    embeddings: torch.Tensor  # (B, k, d) enriched spatial point embeddings ξ


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel axis of (B, C, H, W), eps 1e-6, affine, computed in float32 (SAM style)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    reference = False  # set by RasaloreNet.configure

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``x``, same shape and dtype."""
        dtype = x.dtype
        if not self.reference:
            # One fused kernel over the last axis of the channels-last view (free in channels-last
            # memory); the same mean, biased variance, eps and affine as below.
            channels = x.shape[1]
            normed = F.layer_norm(
                x.permute(0, 2, 3, 1).float(), (channels,), self.weight.float(), self.bias.float(), self.eps
            )
            return normed.permute(0, 3, 1, 2).to(dtype)
        x = x.float()
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = ((x - mean) / torch.sqrt(var + self.eps)).to(dtype)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class _EncoderBlock(nn.Module):
    """Conv3×3 → ReLU → Conv3×3 → ReLU → LayerNorm(C) → Dropout2d(0.1); returns (x, maxpool2(x))."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm = ChannelsFirstLayerNorm(c_out)
        self.dropout = nn.Dropout2d(_DROPOUT)
        self.use_norm = True  # False only for the first_block_norm ablation (not the published model)

    reference = False  # set by RasaloreNet.configure

    def forward(self, x: torch.Tensor, pooled: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(x, maxpool2(x))``; the fast path skips the pool when ``pooled`` is false (its output is unused)."""
        if self.reference:
            x = F.relu(self.conv2(F.relu(self.conv1(x))))
            x = self.dropout(self.norm(x) if self.use_norm else x)
            return x, F.max_pool2d(x, 2)
        # In-place ReLUs: a convolution's backward needs its input, not its output.
        x = F.relu_(self.conv2(F.relu_(self.conv1(x))))
        x = self.dropout(self.norm(x) if self.use_norm else x)
        return x, (F.max_pool2d(x, 2) if pooled else None)


class ImageEncoder(nn.Module):
    """U-Net-style encoder: returns ``s1`` (B, c1, s, s) for the refiner and ``s4`` (B, d, s/2, s/2)."""

    def __init__(self, embed_dim: int, channels: tuple[int, int, int] = (32, 64, 128), in_channels: int = 1) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.e1 = _EncoderBlock(in_channels, c1)
        self.e2 = _EncoderBlock(c1, c2)
        self.e3 = _EncoderBlock(c2, c3)
        self.e4 = _EncoderBlock(c3, embed_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(s1, s4)`` for images (B, 1, s, s)."""
        s1, _ = self.e1(x, pooled=False)
        s2, _ = self.e2(s1, pooled=False)  # unpooled s1, as in the code (§7)
        _, p3 = self.e3(s2)
        if p3 is None:  # unreachable: e3's pool is always computed; kept for the type checker
            raise RuntimeError("encoder block e3 returned no pooled map")
        s4, _ = self.e4(p3, pooled=False)
        return s1, s4


class Refiner(nn.Module):
    """R: region features (B, d, s/2, s/2) from ``s1`` (§7, paper Fig. 3b)."""

    def __init__(self, embed_dim: int, channels: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.conv = nn.Sequential(nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU())
        self.up1 = nn.Sequential(nn.ConvTranspose2d(c2, c3, 3, padding=1), nn.BatchNorm2d(c3), nn.ReLU())
        self.up2 = nn.Sequential(nn.ConvTranspose2d(c3, embed_dim, 3, padding=1), nn.BatchNorm2d(embed_dim), nn.ReLU())
        self.skip = nn.Conv2d(c1, embed_dim, 1)

    reference = False  # set by RasaloreNet.configure

    def forward(self, s1: torch.Tensor) -> torch.Tensor:
        """Region features F_r (B, d, s/2, s/2) from ``s1``."""
        if self.reference:
            out = self.up2(self.up1(self.conv(s1))) + self.skip(s1)
        else:
            x = s1
            for convolution, norm, _ in (self.conv, self.up1, self.up2):
                # In-place ReLU: batch norm's backward needs its input, not its output.
                x = F.relu_(norm(convolution(x)))
            out = x + self.skip(s1)
        return F.avg_pool2d(out, kernel_size=4, stride=2, padding=1)


class RegionAwareSpatialAttention(nn.Module):
    """RASA: LoRE queries attend to region features; returns (activations (B, k), ξ (B, k, d)).

    The ``h`` heads are full width (each d → d, not split) and independent; they are held
    in one fused Linear(d, h·d) per projection, which has the same parameters and the same
    default initialisation distribution as ``h`` separate Linear(d, d).
    """

    def __init__(self, embed_dim: int, heads: int, tokens: int) -> None:
        super().__init__()
        self.embed_dim, self.heads = embed_dim, heads
        self.query = nn.Linear(embed_dim, heads * embed_dim)
        self.key = nn.Linear(embed_dim, heads * embed_dim)
        self.value = nn.Linear(embed_dim, heads * embed_dim)
        self.output = nn.Linear(heads * embed_dim, embed_dim)
        self.noise = nn.Parameter(torch.randn(tokens, embed_dim))  # P, trained, added to the values only
        hidden1, hidden2 = _FFN_HIDDEN
        self.ffn = nn.Sequential(
            nn.Linear(embed_dim, hidden1),
            nn.ReLU(),
            nn.LayerNorm(hidden1),
            nn.Linear(hidden1, hidden2),
            nn.ReLU(),
            nn.LayerNorm(hidden2),
            nn.Linear(hidden2, 1),
            nn.Sigmoid(),
        )

    reference = False  # set by RasaloreNet.configure

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, self.embed_dim).transpose(1, 2)

    def forward(self, features: torch.Tensor, lore: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Activations and ξ for ``features`` (B, d, t, t) and LoRE (k, d)."""
        batch = features.shape[0]
        tokens = features.flatten(2).transpose(1, 2)  # (B, t², d), index row·t + col
        queries = lore.to(tokens.dtype).unsqueeze(0).expand(batch, -1, -1)
        if self.reference:
            q = self._split(self.query(queries))
        else:  # the LoRE is the same for every sample: project it once and share it over the batch
            q = self._split(self.query(queries[:1])).expand(batch, -1, -1, -1)
        k = self._split(self.key(tokens))
        v = self._split(self.value(tokens + self.noise))
        # softmax(Q Kᵀ / sqrt(d)) V per head; SDPA's default scale is 1/sqrt(d) for full-width heads.
        attended = F.scaled_dot_product_attention(q, k, v)  # (B, h, k, d)
        attended = attended.transpose(1, 2).reshape(batch, -1, self.heads * self.embed_dim)
        embeddings = self.output(attended) + queries
        return self.ffn(embeddings).squeeze(-1), embeddings


class MaskDecoder(nn.Module):
    """Point–pixel cross-attention and the up-sampler to the (B, 1, 2s, 2s) logits."""

    def __init__(
        self, embed_dim: int, heads: int, num_points: int, token_side: int, widths: tuple[int, int] = _UPSAMPLER
    ) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(embed_dim, heads, batch_first=True)
        self.position = nn.Parameter(torch.randn(1, embed_dim, token_side, token_side))  # Pos, values only
        self.dropout = nn.Dropout(_DROPOUT)
        self.norm_points = nn.LayerNorm(embed_dim)
        self.norm_candidates = nn.LayerNorm(num_points)
        wide, narrow = widths
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(num_points, wide, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(wide, narrow, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(narrow, 1, 1),
        )

    reference = False  # set by RasaloreNet.configure

    def forward(self, image_embedding: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Logits for the image embedding (B, d, t, t) and ξ (B, k, d)."""
        return self.upsampled(self.candidates(image_embedding, points))

    def candidates(self, image_embedding: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """The normalised point-pixel similarities as a (B, k, t, t) map (candidates as channels)."""
        batch, _, side, _ = image_embedding.shape
        keys = image_embedding.flatten(2).transpose(1, 2)  # (B, t², d)
        values = (image_embedding + self.position).flatten(2).transpose(1, 2)
        attended, _ = self.attention(points, keys, values, need_weights=False)
        y = self.norm_points(self.dropout(attended) + points)  # (B, k, d)
        similarity = self.norm_candidates(torch.bmm(keys, y.transpose(1, 2)))  # (B, t², k)
        if self.reference:
            return similarity.transpose(1, 2).reshape(batch, -1, side, side)
        # (B, t², k) row-major is the channels-last layout of (B, k, t, t): a view, no copy.
        return similarity.view(batch, side, side, -1).permute(0, 3, 1, 2)

    def upsampled(self, grid: torch.Tensor) -> torch.Tensor:
        """ConvT → ReLU → ConvT → ReLU → Conv1×1: the (B, 1, 2s, 2s) logits."""
        if self.reference:
            return self.upsample(grid)
        wide, _, narrow, _, last = self.upsample
        # In-place ReLUs: a transposed convolution's backward needs its input, not its output.
        return last(F.relu_(narrow(F.relu_(wide(grid)))))


class RasaloreNet(nn.Module):
    """Encoder, refiner, one RASA + LoRE buffer per modality, mask decoder.

    Args:
        geometry: input side, k, d and heads.
        lore: the fixed LoRE (k, d) of each modality, e.g. ``{"flair": tensor}``; stored as
            buffers (saved with the weights, never trained).
        trainable_lore: hold the tables as parameters the optimiser trains (the no-LoRE
            ablation, with ``lore`` drawn i.i.d. N(0, 1)); not the published model.

    ``use_rasa = False`` (set after construction, an ablation) feeds the LoRE to the mask
    decoder as ξ without RASA's attention to the refiner's features; the point activations
    are then the FFN of the LoRE alone, which no loss should train.
    """

    def __init__(self, geometry: Geometry, lore: dict[str, torch.Tensor], trainable_lore: bool = False) -> None:
        super().__init__()
        if not lore:
            raise ValueError("RasaloreNet needs the LoRE of at least one modality")
        self.geometry = geometry
        self.modalities: tuple[str, ...] = tuple(lore)
        d, tokens = geometry.embed_dim, geometry.token_side**2
        self.encoder = ImageEncoder(d, geometry.channels)
        self.refiner = Refiner(d, geometry.channels)
        self.rasa = nn.ModuleDict({m: RegionAwareSpatialAttention(d, geometry.heads, tokens) for m in lore})
        self.decoder = MaskDecoder(d, geometry.heads, geometry.num_points, geometry.token_side, geometry.upsampler)
        for modality, table in lore.items():
            if tuple(table.shape) != (geometry.num_points, d):
                raise ValueError(
                    f"LoRE of {modality!r} has shape {tuple(table.shape)}, expected {(geometry.num_points, d)}"
                )
            if trainable_lore:
                self.register_parameter(f"lore_{modality}", nn.Parameter(table.detach().clone().float()))
            else:
                self.register_buffer(f"lore_{modality}", table.detach().clone().float())
        _init_convolutions(self)
        self.reference = False
        self.checkpointing = False
        self.use_rasa = True

    def configure(self, *, reference: bool | None = None, checkpointing: bool | None = None) -> RasaloreNet:
        """Choose the implementation; neither choice changes the parameters or the function.

        Args:
            reference: ``True`` runs the original operation sequence, ``False`` the fast path
                (channels-last activations, fused channel LayerNorm, no unused pools, LoRE
                queries projected once); ``None`` keeps the current choice.
            checkpointing: recompute each block's activations in the backward pass instead of
                storing them (``torch.utils.checkpoint``; dropout masks and batch-norm running
                statistics as without it); ``None`` keeps the current choice.

        Returns:
            The network itself.
        """
        if reference is not None:
            for module in self.modules():
                if "reference" in vars(type(module)) or module is self:
                    module.reference = reference
        if checkpointing is not None:
            self.checkpointing = checkpointing
        return self

    def lore(self, modality: str) -> torch.Tensor:
        """The fixed LoRE (k, d) of ``modality``."""
        return getattr(self, f"lore_{modality}")

    def forward(self, images: torch.Tensor, modality: str | None = None) -> NetOutput:
        """Logits, point activations and ξ for images (B, 1, s, s) in [0, 255]."""
        modality = modality or self.modalities[0]
        s1, s4 = self._encode(images)
        rasa, lore = self.rasa[modality], self.lore(modality)
        if self.use_rasa:
            activations, embeddings = self._segment(lambda s: rasa(self.refiner(s), lore), s1, stateful=self.refiner)
        else:
            activations, embeddings = self._without_rasa(rasa, lore, images.shape[0])
        if not self._checkpointed():
            return NetOutput(self.decoder(s4, embeddings), activations, embeddings)
        grid = self._segment(self.decoder.candidates, s4, embeddings)
        return NetOutput(self._segment(self.decoder.upsampled, grid), activations, embeddings)

    def embeddings(self, images: torch.Tensor, modality: str) -> torch.Tensor:
        """ξ alone (the encoder's ``s4`` and the decoder are skipped where possible)."""
        if not self.use_rasa:
            return self._without_rasa(self.rasa[modality], self.lore(modality), images.shape[0])[1]
        s1, _ = self._encode(images)
        return self.rasa[modality](self.refiner(s1), self.lore(modality))[1]

    @staticmethod
    def _without_rasa(
        rasa: RegionAwareSpatialAttention, lore: torch.Tensor, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The no-RASA ablation's (activations, ξ): the LoRE itself, the same for every image."""
        embeddings = lore.unsqueeze(0).expand(batch, -1, -1)
        return rasa.ffn(embeddings).squeeze(-1), embeddings

    def _encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.reference:
            # oneDNN runs channels-last convolutions faster on CPU; the values are the same.
            images = images.contiguous(memory_format=torch.channels_last)
        encoder = self.encoder
        if not self._checkpointed():
            return encoder(images)
        # One segment per block; only the blocks' outputs are stored for the backward pass.
        s1 = self._segment(lambda x: encoder.e1(x, pooled=False)[0], images)
        s2 = self._segment(lambda x: encoder.e2(x, pooled=False)[0], s1)
        p3 = self._segment(lambda x: encoder.e3(x)[1], s2)
        return s1, self._segment(lambda x: encoder.e4(x, pooled=False)[0], p3)

    def _checkpointed(self) -> bool:
        return self.checkpointing and self.training and torch.is_grad_enabled()

    def _segment(self, function: Callable[..., _T], *args: torch.Tensor, stateful: nn.Module | None = None) -> _T:
        """``function(*args)``, under activation checkpointing when it is on.

        Args:
            function: the block.
            args: its tensor inputs.
            stateful: a module whose buffers (batch-norm running statistics) the recomputation
                must leave as the forward pass left them.
        """
        if not self._checkpointed():
            return function(*args)

        def contexts() -> tuple[contextlib.AbstractContextManager[None], contextlib.AbstractContextManager[None]]:
            recompute = _kept_buffers(stateful) if stateful is not None else contextlib.nullcontext()
            return contextlib.nullcontext(), recompute

        # Non-reentrant checkpointing restores the RNG state for the recomputation (same dropout
        # masks) and leaves the global generator where the forward pass left it.
        return checkpoint(function, *args, use_reentrant=False, context_fn=contexts)


@contextlib.contextmanager
def _kept_buffers(module: nn.Module) -> Iterator[None]:
    """Restore ``module``'s buffers on exit: a recomputed training-mode batch norm updates them again."""
    saved = [(buffer, buffer.detach().clone()) for buffer in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


def _init_convolutions(module: nn.Module) -> None:
    # §7 / official train.py: Kaiming-normal (fan_out, ReLU) for Conv and ConvTranspose, zero bias;
    # everything else keeps PyTorch's default initialisation (P and Pos are N(0, 1)).
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def parameter_counts(net: RasaloreNet, modalities: Sequence[str] | None = None) -> dict[str, int]:
    """Trainable parameters per block (§7's breakdown) and in total.

    Args:
        net: the network.
        modalities: RASA blocks to count (default: all).

    Returns:
        ``{"e1": ..., "e2": ..., "e3": ..., "e4": ..., "refiner": ..., "rasa": ...,
        "rasa_noise": ..., "decoder_attention": ..., "decoder_position": ...,
        "decoder_upsampler": ..., "decoder_norms": ..., "encoder_side": ...,
        "decoder": ..., "total": ...}``.
    """

    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    chosen = tuple(modalities or net.modalities)
    decoder = net.decoder
    counts = {name: count(getattr(net.encoder, name)) for name in ("e1", "e2", "e3", "e4")}
    counts["refiner"] = count(net.refiner)
    counts["rasa"] = sum(count(net.rasa[m]) for m in chosen)
    counts["rasa_noise"] = sum(net.rasa[m].noise.numel() for m in chosen)
    counts["decoder_attention"] = count(decoder.attention)
    counts["decoder_position"] = decoder.position.numel()
    counts["decoder_upsampler"] = count(decoder.upsample)
    counts["decoder_norms"] = count(decoder.norm_points) + count(decoder.norm_candidates)
    counts["encoder_side"] = sum(counts[n] for n in ("e1", "e2", "e3", "e4", "refiner", "rasa"))
    counts["decoder"] = count(decoder)
    counts["total"] = counts["encoder_side"] + counts["decoder"]
    return counts
