"""The frozen text tower: tokenised prompts and encoding of prompt *embeddings* (CoOp).

CoOp replaces the word embeddings of placeholder tokens ("X X ... X") by learned vectors, so the
text encoder has to be run from embeddings rather than token ids: positional embedding → causal
transformer → ``ln_final`` → the end-of-text token → ``text_projection`` (R§3.3 step 2), the same
computation as open_clip's ``encode_text`` after its token lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["PromptTokens", "encode_embeddings", "prompt_tokens", "text_module"]


def text_module(clip: nn.Module) -> nn.Module:
    """The module holding the text tower's parts (``CLIP`` itself, or ``CustomTextCLIP.text``)."""
    return clip if hasattr(clip, "token_embedding") else clip.text


@dataclass(frozen=True, slots=True)
class PromptTokens:
    """Token ids of the CoOp prompts and the hand-crafted prompts, one row per class.

    Attributes:
        coop: ``(C, L)`` ids of ``"X ×n_ctx <words>."``; the X positions get the learned context.
        name_lengths: BPE tokens of each class's words (for ``class_position`` middle/front).
        handcrafted: ``(C, L)`` ids of the template filled with each class's words.
    """

    coop: torch.Tensor
    name_lengths: tuple[int, ...]
    handcrafted: torch.Tensor


def prompt_tokens(model_name: str, words: tuple[str, ...], template: str, n_ctx: int) -> PromptTokens:
    """Tokenise the prompts of ``words`` with the model's tokenizer (offline BPE vocabulary)."""
    import open_clip

    tokenizer = open_clip.get_tokenizer(model_name)
    placeholder = " ".join(["X"] * n_ctx)
    coop = tokenizer([f"{placeholder} {word}." for word in words])
    # Start and end tokens aside, what remains of a lone word is its BPE length (CoOp's name_lens).
    lengths = tuple(int((row != 0).sum()) - 2 for row in tokenizer(list(words)))
    handcrafted = tokenizer([template.format(word) for word in words])
    return PromptTokens(coop=coop, name_lengths=lengths, handcrafted=handcrafted)


def encode_embeddings(clip: nn.Module, embeddings: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Text features of prompts given as token embeddings.

    Args:
        clip: the frozen open_clip model.
        embeddings: ``(N, L, D)`` token embeddings (learned context spliced in).
        tokens: ``(N, L)`` ids of the same prompts; the end-of-text token has the largest id.

    Returns:
        ``(N, E)`` projected, *unnormalised* text features.
    """
    text = text_module(clip)
    x = embeddings + text.positional_embedding.to(embeddings.dtype)
    x = text.transformer(x, attn_mask=text.attn_mask)  # takes (N, L, D) whatever its internal layout
    x = text.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    projection = text.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, nn.Linear) else x @ projection
