"""Options of the ``ddpt`` pseudo-mask generator.

Defaults are the *faithful* preset: what the official RASALoRE code ran (``DDPT/run.sh`` +
``vit_b32_deep.yaml``), as specified in shared/docs/rasalore.md §3 ("R§3" below). Where the paper
(arXiv 2510.08052, Sec. 2.1 and appendix B) says something else, the paper's reading is an option
value named in the description. Fixes of official-code defects (R§12 #7, #11) are built in where
they cannot change results (float maps, empty-map guard, fp32 on CPU) and are options otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["H1_TEMPLATE", "PAPER_CLASS_WORDS", "DDPTOptions"]

#: The hand-crafted prompt "H1" of the paper (appendix B.2.2), also the official template (R§3.1).
H1_TEMPLATE = "a photo of a {} brain."
#: The class words of the paper (appendix B.2.2), healthy first; the code uses the folder names.
PAPER_CLASS_WORDS = ("No Tumor", "Tumor")


class DDPTOptions(BaseModel):
    """Options of the DDPT generator; defaults reproduce the official code (R§3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- backbone and weights (R§3.1, environment.md §3) ---
    model: str = Field(
        "ViT-B-32",
        description="open_clip model name with a ViT vision tower (published: OpenAI CLIP ViT-B/32, 224 px). The "
        "plugin also registers 'ddpt-tiny' (2-layer, width-64 ViT/text tower) for tests and smoke runs only.",
    )
    pretrained: str | None = Field(
        "openai",
        description="open_clip pretrained tag; used only when its file is already in open_clip's cache "
        "(~/.cache/clip or the Hugging Face cache) and no 'weights' file is given. Never downloaded.",
    )
    weights: Path | None = Field(
        None,
        description="Local CLIP checkpoint (OpenAI ViT-B-32.pt, or an open_clip .bin/.pt/.safetensors state "
        "dict). When empty: $WSAD_CLIP_WEIGHTS, then $WSAD_CACHE/weights/<model>-<pretrained>.*, then the "
        "open_clip cache of 'pretrained'.",
    )
    weights_sha256: str | None = Field(
        None, description="Expected sha256 of the weights file; a mismatch stops the run. Empty: not checked."
    )
    allow_random_init: bool = Field(
        False,
        description="Run with a randomly initialised CLIP when no weights are found (tests, smoke runs). Every "
        "output then says 'random-init CLIP — not the published method'.",
    )
    quick_gelu: bool = Field(
        True, description="QuickGELU activations, as the OpenAI CLIP weights need (published); False: nn.GELU."
    )
    logit_scale: float | None = Field(
        None,
        gt=0,
        description="Fixed logit scale 1/τ. Empty: the backbone's exp(logit_scale), 100 for OpenAI CLIP (what "
        "the official code uses). The paper's τ = 0.07 is 14.29.",
    )

    # --- prompts (R§3.2) ---
    template: str = Field(
        H1_TEMPLATE,
        description="Hand-crafted template with one '{}' (the paper's H1, also the code's): zero-shot class "
        "ranking and the general-knowledge targets (published).",
    )
    class_words: tuple[str, str] = Field(
        ("Healthy", "Unhealthy"),
        description="Words for (healthy, anomalous): the official folder names (faithful); the paper uses "
        "('No Tumor', 'Tumor').",
    )
    class_position: Literal["end", "middle", "front"] = Field(
        "end",
        description="Class words in the CoOp prompt: 'end' (code, faithful), 'middle' (paper Sec. 2.1), 'front'.",
    )
    n_ctx: int = Field(16, ge=1, le=60, description="CoOp context tokens shared by both classes (published).")
    vpt_tokens: int = Field(10, ge=1, description="Deep visual prompt tokens per layer 1..L-1 (published).")
    cavpt_tokens: int = Field(10, ge=1, description="Learnable key/value tokens of the CAVPT in layer L (published).")
    cavpt_dim: int = Field(32, ge=1, description="Width of the CAVPT query/key projections (published).")
    class_prompts: int = Field(
        10, ge=1, description="CAVPT class prompts K (code CPN); the effective K is min(K, 2) = 2 (published)."
    )
    train_text: Literal["learned", "handcrafted"] = Field(
        "learned",
        description="Text features trained against: 'learned' CoOp prompts (code default, L1) or the fixed "
        "hand-crafted template ('handcrafted', the paper's H1 training, appendix B.2.2).",
    )
    map_text: Literal["learned", "handcrafted"] = Field(
        "learned",
        description="CAVPT queries when extracting maps: learned prompts of both classes (code, L2) or the "
        "hand-crafted prompt of the anomalous class only ('handcrafted', the paper's H2).",
    )

    # --- losses and schedule (R§3.3) ---
    aux_weight: float = Field(0.3, ge=0, description="η, weight of the CAVPT auxiliary cross-entropy (published).")
    general_knowledge_epochs: int = Field(
        30,
        ge=0,
        description="C: the first C epochs use the general-knowledge loss CE(out1) + CE(out2) + 0.1 CE(out) "
        "(published); C >= epochs means every epoch does.",
    )
    epochs: int = Field(60, ge=1, description="Training epochs; the last epoch's prompts are used (published).")
    lr: float = Field(0.01, gt=0, description="SGD learning rate of the VPT and CAVPT prompts.")
    coop_lr: float = Field(0.002, gt=0, description="SGD learning rate of the CoOp context.")
    warmup_epochs: int = Field(10, ge=0, description="Constant warm-up epochs of the VPT/CAVPT groups.")
    coop_warmup_epochs: int = Field(1, ge=0, description="Constant warm-up epochs of the CoOp group.")
    warmup_lr: float = Field(1e-5, gt=0, description="Learning rate during warm-up (Dassl constant warm-up).")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    weight_decay: float = Field(5e-4, ge=0, description="SGD weight decay (all prompt parameters).")
    batch_size: int = Field(32, ge=1, description="Training batch size; a last partial batch is dropped (Dassl).")
    shots: int = Field(10_000, ge=1, description="At most this many training slices per class (published).")
    train_fraction: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Share of each class's labelled training slices used for training (code: 60 %, published); "
        "1 uses them all.",
    )
    selection: Literal["last", "best-validation"] = Field(
        "last",
        description="Prompts kept: the last epoch's (faithful) or those with the lowest cross-entropy on the "
        "validation patients' slice labels (never pixel labels).",
    )

    # --- inputs (R§3.1) ---
    channel: int = Field(0, ge=0, description="Input modality CLIP sees (grey, replicated to RGB).")
    slice_minmax: bool = Field(
        True, description="Min-max each slice to [0, 1] first, as the official PNG extraction does (published)."
    )
    crop_scale: tuple[float, float] = Field(
        (0.08, 1.0), description="Area range of the training RandomResizedCrop (bicubic), as published."
    )
    hflip_p: float = Field(0.5, ge=0, le=1, description="Probability of a horizontal flip of a training image.")

    # --- pseudo-masks (R§3.4) ---
    map_normalisation: Literal["max", "minmax"] = Field(
        "max",
        description="Soft map = attention / max (stage-2 loader, faithful) or min-max (MedSAM script); the "
        "binary mask is soft > map_threshold. All-constant maps give empty masks (published).",
    )
    map_threshold: float = Field(0.5, gt=0, lt=1, description="Binarisation threshold of the soft map (paper: 0.5).")
    map_upsample: Literal["bilinear", "bicubic"] = Field(
        "bilinear", description="Interpolation of the patch grid to the slice size (published: bilinear, float32)."
    )
    healthy_slices: Literal["empty", "map"] = Field(
        "empty",
        description="Slices labelled healthy given to generate(): empty masks (the code maps tumour slices only) "
        "or their attention maps ('map'). Anomalous and unlabelled slices are always mapped.",
    )
    class_guided: bool = Field(
        False,
        description="Unlabelled slices that DDPT classifies as healthy get empty masks (appendix B, Table 19).",
    )
    mask_outside_brain: bool = Field(
        False, description="Zero the maps outside the brain mask (not in the official code)."
    )
    predict_batch_size: int = Field(
        32, ge=1, description="Slices per forward pass when mapping (the code maps one at a time; same result)."
    )

    @field_validator("template")
    @classmethod
    def _one_placeholder(cls, value: str) -> str:
        if value.count("{}") != 1:
            raise ValueError(f"template must contain exactly one '{{}}', got {value!r}")
        return value

    @field_validator("class_words")
    @classmethod
    def _words_differ(cls, value: tuple[str, str]) -> tuple[str, str]:
        if not all(w.strip() for w in value) or value[0] == value[1]:
            raise ValueError(f"class_words must be two different non-empty words, got {value}")
        return value

    @field_validator("crop_scale")
    @classmethod
    def _crop_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1] <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {value}")
        return value

    @field_validator("weights_sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower())):
            raise ValueError("weights_sha256 must be 64 hexadecimal characters")
        return None if value is None else value.lower()
