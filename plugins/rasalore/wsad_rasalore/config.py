"""Options of the ``rasalore`` segmenter; defaults are the published configuration.

Numbers cite the specification ``shared/docs/rasalore.md`` (``§n``) and the paper
(Sharma et al., BMVC 2025, arXiv 2510.08052). Where paper and official code disagree the
default follows the code (it produced the published numbers); the official code's defects
have fixes whose faithful behaviour stays reachable through an option (§12).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["PAPER", "PRESETS", "Geometry", "RasaloreOptions"]


@dataclass(frozen=True, slots=True)
class Geometry:
    """Network size: input side ``s`` (output ``2s``), ``k`` candidate points, embedding ``d``, heads."""

    input_size: int
    num_points: int
    embed_dim: int
    heads: int = 4
    width_divisor: int = 1

    @property
    def channels(self) -> tuple[int, int, int]:
        """Encoder/refiner widths (§7: 32, 64, 128), divided by ``width_divisor``."""
        return (32 // self.width_divisor, 64 // self.width_divisor, 128 // self.width_divisor)

    @property
    def upsampler(self) -> tuple[int, int]:
        """Up-sampler widths (§7: 128, 64), divided by ``width_divisor``."""
        return (128 // self.width_divisor, 64 // self.width_divisor)

    @property
    def output_size(self) -> int:
        """Side of the predicted map: twice the input (§7: 128 in, 256 out)."""
        return 2 * self.input_size

    @property
    def token_side(self) -> int:
        """Side of the image-token grid of the encoder and refiner (§7: 64 at 128² input)."""
        return self.input_size // 2

    @property
    def grid_side(self) -> int:
        """Side of the candidate-point grid, ``sqrt(k)`` (§5: 32)."""
        return math.isqrt(self.num_points)

    def describe(self) -> str:
        """``128² input (256² output), k=1024, d=256, 4 heads``."""
        widths = "" if self.width_divisor == 1 else f", convolution widths / {self.width_divisor}"
        return (
            f"{self.input_size}² input ({self.output_size}² output), k={self.num_points}, "
            f"d={self.embed_dim}, {self.heads} heads{widths}"
        )


# §7 and the paper's §3 ("k = 1024 ... 32 x 32 grid over every MRI image of size 256 x 256,
# d = 256, 4 heads"); the network sees 128² crops and predicts at 256².
PAPER = Geometry(input_size=128, num_points=1024, embed_dim=256, heads=4)
# 64² input (128² output), k = 256, d = 64 and halved convolution widths: 734,258 parameters and
# 1.1 GMAC per slice forward against 30 GMAC for the paper configuration (torch FlopCounterMode). The
# convolutions, whose widths do not shrink with d, dominate a 64² model at full width.
PRESETS: dict[str, Geometry] = {"paper": PAPER, "cpu-small": Geometry(64, 256, 64, 4, width_divisor=2)}


class RasaloreOptions(BaseModel):
    """Options of the ``rasalore`` segmenter (defaults: the published configuration, §5-§11)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- architecture (§7) -------------------------------------------------------------
    preset: Literal["paper", "cpu-small"] = Field(
        "paper",
        description="'paper': 128² input, 256² output, k=1024, d=256 (7,254,370 parameters); 'cpu-small': 64² "
        "input, k=256, d=64, convolution widths halved, for CPU runs. Outputs are labelled when not 'paper'.",
    )
    input_size: int | None = Field(
        None, ge=8, description="Override the preset's network input side s (even; output is 2s)."
    )
    num_points: int | None = Field(
        None, ge=4, description="Override the preset's number k of candidate prompt points (a square number)."
    )
    embed_dim: int | None = Field(
        None, ge=4, description="Override the preset's embedding dimension d (divisible by heads)."
    )
    heads: int = Field(4, ge=1, description="Attention heads in RASA and the mask decoder (paper §3: 4).")
    width_divisor: Literal[1, 2, 4, 8] | None = Field(
        None,
        description="Override the preset's divisor of the convolution widths (encoder 32/64/128, up-sampler "
        "128/64; paper: 1, cpu-small: 2).",
    )
    channels_last: bool = Field(
        False,
        description="Also keep the weights in channels_last memory format (CPU speed; the fast path already "
        "runs activations channels-last).",
    )
    first_block_norm: bool = Field(
        True,
        description="Channel LayerNorm at the end of encoder block e1 (published: on). false is an ablation: at "
        "initialisation the block is then no longer invariant to the scale of its input, so absolute intensity "
        "reaches the network (not the published model; every output says so).",
    )
    implementation: Literal["fast", "reference"] = Field(
        "fast",
        description="'fast': channels-last activations, fused LayerNorm, no unused pools, LoRE queries projected "
        "once, Gaussian weight maps as matrix products; 'reference': the original operations. Same parameters "
        "and dropout draws; results agree to float32 rounding (tested at 1e-5 relative).",
    )
    activation_checkpointing: bool = Field(
        False,
        description="Recompute each block's activations in the backward pass instead of storing them "
        "(torch.utils.checkpoint): about 2x less training memory at the paper size, one more forward pass of "
        "time, the same numbers.",
    )

    # --- LoRE (§5) -----------------------------------------------------------------------
    lore_seed: int | None = Field(
        None,
        description="Seed of the location-based random embeddings (official code: unseeded). Default: derived "
        "from the run seed. Report the mean over several LoRE seeds (paper Table 1 = mean of 5).",
    )
    lore_variant: Literal["official", "smooth", "learned"] = Field(
        "official",
        description="'official': Fourier matrix floor(d/2 * N(0,1)) (std 128 at d=256) as in the code; 'smooth': "
        "N(0,1) as in SAM; 'learned': no location code at all, a (k, d) table drawn N(0,1) and trained with the "
        "network like DETR's object queries ('smooth' and 'learned' are ablations, not the published setting).",
    )
    rasa: bool = Field(
        True,
        description="Region-aware spatial attention (published: on). false is an ablation: the LoRE reaches the "
        "mask decoder as the point embeddings ξ without attending to the refiner's region features, so L_PA and "
        "L_Struct have nothing to train and must be 0 (point_weight=0, structure_weight=0).",
    )

    # --- data and augmentation (§6) ------------------------------------------------------
    modality: str | None = Field(
        None, description="Input channel of the single-modality model; default: the only channel of the data."
    )
    gamma: float = Field(2.0, gt=0, description="Gamma applied to the 8-bit slice, (v/255)^gamma * 255 (published: 2).")
    quantize_8bit: bool = Field(
        True, description="Quantise intensities to integers 0..255 like the official 8-bit PIL pipeline."
    )
    min_crop_extent: int = Field(
        64,
        ge=1,
        description="Brain boxes with fewer non-zero rows or columns are widened to about this (published: 64).",
    )
    min_pseudo_mask_pixels: int = Field(
        200,
        ge=0,
        description="Skip training slices whose pseudo-mask has fewer pixels, counted at 240² (published: 200).",
    )
    augment: bool = Field(
        True,
        description="Paper augmentations on training batches only: rotation ±90° p0.7, flips p0.5, brightness "
        "and contrast ×U(0.8,1.2) p0.5, Gaussian noise σ=10 p0.7 (published).",
    )
    sam_crop_frame: Literal["own", "official-240"] = Field(
        "own",
        description="'own': crop every mask in its own frame "
        "(a fix of the official code, see the plugin's README); 'official-240': reproduce the "
        "official bug, cropping the refined (MedSAM) mask with indices of a 240² frame.",
    )
    use_refined_masks: bool = Field(
        True,
        description="Use a refiner's masks (M_SAM) in the κ-weighted term when the pseudo-masks carry upstream "
        "generator masks; false trains 'RASALoRE without MedSAM' on the generator's masks.",
    )

    # --- losses (§8) ---------------------------------------------------------------------
    alpha: float = Field(0.6, ge=0, description="Weight α of the false-positive penalty (paper: 0.6).")
    beta: float = Field(0.6, ge=0, description="Weight β of the background (true-negative) EL-Dice (paper: 0.6).")
    tversky_delta: float = Field(
        0.3, ge=0, le=1, description="Tversky δ: weight of false negatives, 1-δ of false positives (code: 0.3)."
    )
    el_phi: float = Field(0.3, gt=0, description="Exponent φ of the exponential-logarithmic loss (paper: 0.3).")
    sigma_mask: float = Field(
        10.0, gt=0, description="Gaussian σ of the pseudo-mask weight maps at 256² output (code: 10); scaled with s."
    )
    sigma_background: float = Field(
        15.0, gt=0, description="Gaussian σ of the background weight map at 256² output (code: 15); scaled with s."
    )
    point_weight: float = Field(
        1.0, ge=0, description="Weight of L_PA, the point-activation EL-Dice (published: 1; 0 is an ablation)."
    )
    structure_weight: float = Field(
        1.0, ge=0, description="Weight of L_Struct, the embedding structure MSE (published: 1; 0 is an ablation)."
    )
    overlap: Literal["tversky", "dice"] = Field(
        "tversky",
        description="Overlap in the pseudo-mask terms: 'tversky' (official code) or 'dice' (paper's EL-Dice).",
    )

    # --- training (§9) -------------------------------------------------------------------
    epochs: int = Field(200, ge=1, description="Training epochs (published: 200).")
    batch_size: int = Field(16, ge=1, description="Slices per step (published: 16).")
    recipe: Literal["paper", "adamw-cosine"] = Field(
        "paper",
        description="'paper': SGD lr 0.01, momentum 0.9, halved every 20 epochs (published). 'adamw-cosine': not the "
        "paper's recipe, for short CPU runs: AdamW lr 1e-3, weight decay 1e-4, linear warm-up over 5 % of the "
        "epochs (at least 1), cosine decay to 1 % of lr; sets optimizer, learning_rate, weight_decay, schedule "
        "and warmup_epochs unless given explicitly. Every output lists the changed settings.",
    )
    optimizer: Literal["sgd", "adam", "adamw"] = Field(
        "sgd",
        description="'sgd' (with momentum, the published setting), 'adam' or 'adamw' (not the paper's: "
        "converge in far fewer steps, for short CPU runs; use learning_rate 1e-3).",
    )
    schedule: Literal["step", "cosine"] = Field(
        "step",
        description="'step': lr·decay^floor((e-1)/lr_step_epochs) (published); 'cosine': linear warm-up over "
        "warmup_epochs, then cosine decay to min_lr_fraction·lr at the last epoch (not the paper's).",
    )
    warmup_epochs: int = Field(0, ge=0, description="Epochs of linear learning-rate warm-up (published: none).")
    min_lr_fraction: float = Field(
        0.01, ge=0, le=1, description="Final learning rate of the cosine schedule as a fraction of learning_rate."
    )
    learning_rate: float = Field(0.01, gt=0, description="Learning rate (published: 0.01 with SGD).")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (published: 0.9).")
    weight_decay: float = Field(0.0, ge=0, description="SGD weight decay (published: none).")
    lr_step_epochs: int = Field(
        20,
        ge=1,
        description="Halve the learning rate every this many epochs: lr(e) = lr·0.5^floor((e-1)/20) (published).",
    )
    lr_decay: float = Field(0.5, gt=0, le=1, description="Factor of each learning-rate step (published: 0.5).")
    selection: Literal["last", "val-loss", "gt-val"] = Field(
        "last",
        description="Weights kept: 'last' epoch; 'val-loss': lowest loss against the validation slices' "
        "pseudo-masks; 'gt-val': the official rule (published), best epoch by validation Dice against pixel "
        "ground truth, scored by the core on the validation patients (the plugin never sees the labels; every "
        "result says selection=gt-val).",
    )
    validation_source: Literal["patients", "training-slices"] = Field(
        "patients",
        description="'patients': the run's validation patients "
        "(a fix of the official code, see the plugin's README); 'training-slices': hold out a "
        "seeded share of the training slices as the official code does (90/10 by slice).",
    )
    validation_fraction: float = Field(
        0.1, gt=0, lt=1, description="Share of training slices held out with validation_source='training-slices'."
    )

    # --- multimodality (§11) -------------------------------------------------------------
    multimodal: tuple[str, ...] = Field(
        (),
        description="Modalities of multimodality RASALoRE (e.g. ['flair', 't1']; the bridge modality is always "
        "included); empty: single-modality model.",
    )
    bridge_modality: str = Field(
        "t2", description="Bridge modality trained first (paper: T2; use 'flair' on data without T2)."
    )
    align_weight: float = Field(1.0, ge=0, description="λ_align of the bridge alignment loss (published default: 1).")
    align_reduction: Literal["mean", "sum"] = Field(
        "mean",
        description="Alignment ‖ξ_j - ξ_bridge‖²: 'mean' over elements (default, comparable to L_Struct) or "
        "'sum' (the paper's squared norm, ~10^5 times larger at k=1024, d=256).",
    )
    freeze_bridge_rasa: bool = Field(True, description="Keep the bridge modality's RASA fixed in stage 2 (published).")
    multimodal_epochs: int | None = Field(
        None, ge=1, description="Epochs of the multimodal stage after the bridge model (default: epochs)."
    )
    predict_modality: str | None = Field(
        None, description="Modality whose RASA predicts in multimodal mode (default: the bridge modality)."
    )

    # --- inference (§10) -----------------------------------------------------------------
    mask_outside_brain: bool = Field(
        False, description="Zero the map outside the brain mask (official: only outside the crop box)."
    )
    predict_batch_size: int = Field(16, ge=1, description="Slices per forward pass when predicting.")

    @model_validator(mode="before")
    @classmethod
    def _apply_recipe(cls, data: Any) -> Any:
        # A recipe fills the training settings the user did not give; explicit values win.
        if isinstance(data, dict) and data.get("recipe") == "adamw-cosine":
            epochs = int(data.get("epochs", 200))
            defaults = {
                "optimizer": "adamw",
                "learning_rate": 1e-3,
                "weight_decay": 1e-4,
                "schedule": "cosine",
                "warmup_epochs": max(1, round(0.05 * epochs)),
            }
            data = {**defaults, **data}
        return data

    @model_validator(mode="after")
    def _check(self) -> RasaloreOptions:
        geometry = self.geometry()
        side = geometry.grid_side
        if side * side != geometry.num_points:
            raise ValueError(f"num_points must be a square number (k = 32² in the paper), got {geometry.num_points}")
        if geometry.input_size % 2:
            raise ValueError(f"input_size must be even, got {geometry.input_size}")
        if geometry.input_size % side:
            raise ValueError(
                f"input_size {geometry.input_size} must be a multiple of sqrt(num_points) = {side} "
                "(point labels sample the mask every input_size/sqrt(k) pixels)"
            )
        if geometry.embed_dim % geometry.heads:
            raise ValueError(f"embed_dim {geometry.embed_dim} must be divisible by heads {geometry.heads}")
        if not self.rasa and (self.point_weight or self.structure_weight):
            raise ValueError(
                "rasa=false leaves the point activations and ξ without image input: set point_weight=0 and "
                "structure_weight=0 too"
            )
        if self.multimodal and (self.lore_variant == "learned" or not self.rasa):
            raise ValueError("the lore_variant=learned and rasa=false ablations are single-modality only")
        if self.multimodal:
            if len(set(self.multimodal)) != len(self.multimodal):
                raise ValueError(f"multimodal lists a modality twice: {self.multimodal}")
            allowed = {*self.multimodal, self.bridge_modality}
            if self.predict_modality is not None and self.predict_modality not in allowed:
                raise ValueError(f"predict_modality {self.predict_modality!r} is not among {sorted(allowed)}")
        return self

    def geometry(self) -> Geometry:
        """The preset's geometry with the explicit overrides applied."""
        base = PRESETS[self.preset]
        return Geometry(
            input_size=self.input_size or base.input_size,
            num_points=self.num_points or base.num_points,
            embed_dim=self.embed_dim or base.embed_dim,
            heads=self.heads,
            width_divisor=self.width_divisor or base.width_divisor,
        )

    def is_paper_geometry(self) -> bool:
        """Whether the network has the published size."""
        return self.geometry() == PAPER
