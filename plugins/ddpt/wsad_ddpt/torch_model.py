"""DDPT's trainable prompts (CoOp, deep VPT, CAVPT) and their forward pass through a frozen CLIP.

Only :class:`DDPTPrompts` holds trainable parameters (1,137,920 at ViT-B/32, R§3.2); the CLIP
inside :class:`DDPTNetwork` has ``requires_grad=False`` everywhere and receives gradients only as
activations. Shapes below use B images, K class prompts, C classes, W visual width, E embedding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from wsad_ddpt._text import PromptTokens, encode_embeddings, text_module

__all__ = ["ClassAwarePrompts", "CoOpPromptLearner", "DDPTNetwork", "DDPTPrompts"]

_PROMPT_STD = 0.02  # N(0, 0.02) for every learned token (CoOp, VPT, CAVPT), as the code does


class CoOpPromptLearner(nn.Module):
    """Unified CoOp context of ``n_ctx`` vectors spliced into each class's prompt (R§3.2).

    Args:
        n_ctx: learned context tokens.
        prefix: ``(C, 1, D)`` embedding of the start token.
        suffix: ``(C, L - 1 - n_ctx, D)`` embeddings after the placeholders (words, '.', end, padding).
        name_lengths: BPE tokens of each class's words.
        position: where the class words go: ``end`` (code), ``middle`` (paper) or ``front``.
    """

    def __init__(
        self, n_ctx: int, prefix: torch.Tensor, suffix: torch.Tensor, name_lengths: tuple[int, ...], position: str
    ) -> None:
        super().__init__()
        self.ctx = nn.Parameter(torch.empty(n_ctx, prefix.shape[-1]).normal_(std=_PROMPT_STD))
        # Frozen token embeddings are rebuilt from CLIP, never stored (the code drops them on load too).
        self.register_buffer("prefix", prefix, persistent=False)
        self.register_buffer("suffix", suffix, persistent=False)
        self.name_lengths, self.position = name_lengths, position

    def forward(self) -> torch.Tensor:
        """``(C, L, D)`` prompt embeddings."""
        n_cls = self.prefix.shape[0]
        ctx = self.ctx.unsqueeze(0).expand(n_cls, -1, -1)
        if self.position == "end":
            return torch.cat([self.prefix, ctx, self.suffix], dim=1)
        rows, half = [], self.ctx.shape[0] // 2
        for i, length in enumerate(self.name_lengths):
            words, rest = self.suffix[i : i + 1, :length], self.suffix[i : i + 1, length:]
            pieces = (
                [ctx[i : i + 1, :half], words, ctx[i : i + 1, half:]]
                if self.position == "middle"
                else [words, ctx[i : i + 1]]
            )
            rows.append(torch.cat([self.prefix[i : i + 1], *pieces, rest], dim=1))
        return torch.cat(rows, dim=0)


class ClassAwarePrompts(nn.Module):
    """CAVPT of the last layer: text-conditioned visual prompts plus an auxiliary classifier (R§3.3 step 3).

    Args:
        width: visual width W.
        embed_dim: text feature size E.
        n_classes: C.
        n_tokens: learnable key/value tokens.
        qk_dim: width of the query/key projections.
    """

    def __init__(self, width: int, embed_dim: int, n_classes: int, n_tokens: int, qk_dim: int) -> None:
        super().__init__()
        self.meta_net = nn.Linear(embed_dim, width)
        self.q_proj = nn.Linear(width, qk_dim, bias=False)
        self.k_proj = nn.Linear(width, qk_dim, bias=False)
        self.v_proj = nn.Linear(width, width, bias=False)
        self.norm_aux = nn.LayerNorm(width)
        self.norm_prompt = nn.LayerNorm(width)
        self.classifier = nn.Linear(width, n_classes, bias=False)
        self.tokens = nn.Parameter(torch.empty(n_tokens, width).normal_(std=_PROMPT_STD))

    def forward(self, visual_tokens: torch.Tensor, text_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts ``(B, K, W)`` and auxiliary logits ``(B, K, C)`` for ``(B, N, W)`` tokens and ``(B, K, E)`` text."""
        query = self.meta_net(text_features)
        # Keys/values see the image tokens without gradient (the code detaches them).
        kv = torch.cat([visual_tokens.detach(), self.tokens.unsqueeze(0).expand(visual_tokens.shape[0], -1, -1)], 1)
        scores = self.q_proj(query) @ self.k_proj(kv).transpose(1, 2) / math.sqrt(self.q_proj.out_features)
        context = self.v_proj(scores.softmax(dim=-1) @ kv)
        return self.norm_prompt(context + query), self.classifier(self.norm_aux(context))


class DDPTPrompts(nn.Module):
    """Every trainable parameter of DDPT: CoOp context, deep VPT tokens (layers 1..L-1), CAVPT (layer L)."""

    def __init__(
        self, coop: CoOpPromptLearner, layers: int, width: int, vpt_tokens: int, cavpt: ClassAwarePrompts
    ) -> None:
        super().__init__()
        self.coop = coop
        self.vpt = nn.Parameter(torch.empty(layers - 1, vpt_tokens, width).normal_(std=_PROMPT_STD))
        self.cavpt = cavpt

    def param_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(visual prompts: VPT + CAVPT, text prompts: CoOp) — optimised with different rates (R§3.3 step 6)."""
        return [self.vpt, *self.cavpt.parameters()], [self.coop.ctx]


class DDPTNetwork(nn.Module):
    """A frozen open_clip CLIP plus :class:`DDPTPrompts`.

    Args:
        clip: frozen open_clip ``CLIP`` with a ViT image tower (see ``_clip.check_supported``).
        tokens: tokenised CoOp and hand-crafted prompts.
        n_ctx, class_position, vpt_tokens, cavpt_tokens, cavpt_dim: prompt sizes (R§3.2).
    """

    def __init__(
        self,
        clip: nn.Module,
        tokens: PromptTokens,
        *,
        n_ctx: int,
        class_position: str,
        vpt_tokens: int,
        cavpt_tokens: int,
        cavpt_dim: int,
    ) -> None:
        super().__init__()
        self.clip = clip
        visual = clip.visual
        width, layers, embed = visual.conv1.out_channels, len(visual.transformer.resblocks), visual.output_dim
        self.grid = tuple(visual.grid_size)
        self.n_classes = tokens.coop.shape[0]
        with torch.no_grad():
            embedded = text_module(clip).token_embedding(tokens.coop)
            hand = encode_embeddings(clip, text_module(clip).token_embedding(tokens.handcrafted), tokens.handcrafted)
        coop = CoOpPromptLearner(n_ctx, embedded[:, :1], embedded[:, 1 + n_ctx :], tokens.name_lengths, class_position)
        cavpt = ClassAwarePrompts(width, embed, self.n_classes, cavpt_tokens, cavpt_dim)
        self.prompts = DDPTPrompts(coop, layers, width, vpt_tokens, cavpt)
        self.register_buffer("coop_tokens", tokens.coop, persistent=False)
        self.register_buffer("handcrafted", hand, persistent=False)  # unnormalised, (C, E)

    def logit_scale(self, fixed: float | None) -> float:
        """``fixed``, or the backbone's ``exp(logit_scale)`` (100 for OpenAI CLIP)."""
        return float(fixed) if fixed is not None else float(self.clip.logit_scale.detach().exp())

    def learned_text(self) -> torch.Tensor:
        """``(C, E)`` unnormalised text features of the CoOp prompts (gradient flows to the context)."""
        return encode_embeddings(self.clip, self.prompts.coop(), self.coop_tokens)

    @torch.no_grad()
    def zero_shot_image(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, E)`` normalised features of the unprompted frozen image encoder."""
        return F.normalize(self.clip.encode_image(images), dim=-1)

    def _block(self, index: int, x: torch.Tensor) -> torch.Tensor:
        block = self.clip.visual.transformer.resblocks[index]
        if self.clip.visual.transformer.batch_first:
            return block(x)
        return block(x.transpose(0, 1)).transpose(0, 1)

    def prompted_image(
        self, images: torch.Tensor, queries: torch.Tensor, *, need_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The prompted image encoder (R§3.3 step 3).

        Args:
            images: ``(B, 3, S, S)`` CLIP-normalised images.
            queries: ``(B, K, E)`` text features that condition the CAVPT.
            need_attention: also return the last block's CLS→patch attention.

        Returns:
            Image features ``(B, E)`` (unnormalised), auxiliary logits ``(B, K, C)`` and, when asked,
            the head-averaged attention of the class token on the patches, ``(B, gh, gw)``.
        """
        visual = self.clip.visual
        x = visual.conv1(images).flatten(2).transpose(1, 2)
        cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = visual.ln_pre(torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype))
        n_tokens, vpt = x.shape[1], self.prompts.vpt
        for i in range(vpt.shape[0]):  # layers 1..L-1: append this layer's tokens, run, drop them
            prompt = vpt[i].to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)
            x = self._block(i, torch.cat([x, prompt], dim=1))[:, :n_tokens]
        class_prompts, aux_logits = self.prompts.cavpt(x, queries.to(x.dtype))
        x = torch.cat([x, class_prompts.to(x.dtype)], dim=1)
        attention = self._cls_attention(x) if need_attention else None
        x = self._block(vpt.shape[0], x)[:, :n_tokens]
        features = visual.ln_post(x[:, 0])
        if visual.proj is not None:
            features = features @ visual.proj
        return features, aux_logits, attention

    def _cls_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax attention of the last block, row CLS, patch columns, mean over heads (R§3.4).

        open_clip's blocks do not return attention weights, so they are recomputed from the
        block's ``ln_1`` and the query/key part of its input projection.
        """
        block = self.clip.visual.transformer.resblocks[-1]
        attn: nn.MultiheadAttention = block.attn
        width, heads = attn.embed_dim, attn.num_heads
        y = block.ln_1(x)
        w, b = attn.in_proj_weight, attn.in_proj_bias
        q = F.linear(y[:, :1], w[:width], None if b is None else b[:width])
        k = F.linear(y, w[width : 2 * width], None if b is None else b[width : 2 * width])
        head = width // heads
        q = q.view(x.shape[0], 1, heads, head).transpose(1, 2)
        k = k.view(x.shape[0], -1, heads, head).transpose(1, 2)
        weights = (q @ k.transpose(-1, -2) / math.sqrt(head)).float().softmax(dim=-1).mean(dim=1)[:, 0]
        gh, gw = self.grid
        return weights[:, 1 : 1 + gh * gw].reshape(-1, gh, gw)
