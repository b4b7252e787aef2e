"""Options of the ``ame-cam`` generator (Chen et al., MICCAI 2023; baselines.md §1).

Defaults are the published configuration (GPU-sized: batches of 512/256 images at the
slice size). Fields marked *size* are the ones a CPU run shrinks. Every option named in
``METHOD_FIELDS_AMECAM`` that differs from its default is reported as a ``setting``
deviation; ``image_size``, ``simclr_normalize``, ``classifier_selection``, ``polarity``
and ``mask_outside_brain`` are compared with the paper by the generator itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["METHOD_FIELDS_AMECAM", "PUBLISHED_SIDE", "AmeCamOptions"]

#: Published settings whose defaults are the paper's values (speed knobs and the polarity check's own
#: parameter are not among them).
METHOD_FIELDS_AMECAM = (
    "width", "simclr_epochs", "simclr_batch_size", "simclr_learning_rate", "simclr_temperature",
    "simclr_hold_epochs", "classifier_epochs", "classifier_batch_size", "classifier_learning_rate", "exit_weights",
    "aggregation_epochs", "aggregation_batch_size", "aggregation_learning_rate", "rank_alpha", "weight_decay",
    "threshold",
)  # fmt: skip
#: §1: the network sees the 240² BraTS slice, not resized.
PUBLISHED_SIDE = 240


class AmeCamOptions(BaseModel):
    """Options of ``ame-cam``: multi-exit ResNet-18 CAMs fused by an attention aggregation network."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: int | None = Field(
        None,
        ge=64,
        description="Size: square network input (>= 64: the last stage is 1/32 of it); null keeps the slice size "
        "(published: no resize, 240² there).",
    )
    width: int = Field(
        64, ge=4, description="Size: ResNet-18 stem width; stages use 1, 2, 4, 8 times it (published: 64)."
    )
    simclr_epochs: int = Field(100, ge=0, description="Size: stage 0 SimCLR epochs (published: 100; 0 skips stage 0).")
    simclr_batch_size: int = Field(
        512, ge=2, description="Size: stage 0 images per step, two views each (published: 512)."
    )
    simclr_learning_rate: float = Field(1e-3, gt=0, description="Stage 0 SGD learning rate (published: 1e-3).")
    simclr_temperature: float = Field(0.07, gt=0, description="NT-Xent temperature (published: 0.07).")
    simclr_normalize: bool = Field(
        True,
        description="NT-Xent on L2-normalised projections (SimCLR as published); false = the official code's raw "
        "dot products.",
    )
    simclr_hold_epochs: int = Field(
        10, ge=0, description="Stage 0 epochs at the initial rate before the cosine decay starts (official code: 10)."
    )
    classifier_epochs: int = Field(10, ge=1, description="Size: stage 1 multi-exit classifier epochs (published: 10).")
    classifier_batch_size: int = Field(256, ge=1, description="Size: stage 1 images per step (published: 256).")
    classifier_learning_rate: float = Field(
        1e-4, gt=0, description="Stage 1 Adam learning rate, cosine to 5e-6 (published)."
    )
    exit_weights: tuple[float, float, float, float] = Field(
        (0.25, 0.5, 0.75, 1.0), description="BCE weight of exits 1-4 (published: 0.25, 0.5, 0.75, 1)."
    )
    classifier_selection: Literal["best-validation-auc", "last"] = Field(
        "best-validation-auc",
        description="Stage 1 weights kept: best slice-level AUC on the validation patients' labels (published) "
        "or last.",
    )
    aggregation_epochs: int = Field(10, ge=1, description="Size: stage 2 attention aggregation epochs (published: 10).")
    aggregation_batch_size: int = Field(256, ge=2, description="Size: stage 2 images per step (published: 256).")
    aggregation_learning_rate: float = Field(
        1e-4, gt=0, description="Stage 2 Adam learning rate, cosine to 5e-6 (published)."
    )
    rank_alpha: float = Field(0.25, ge=0, description="SimMax rank weight exp(-alpha * (rank - 1)) (published: 0.25).")
    weight_decay: float = Field(1e-5, ge=0, description="Weight decay of every stage's optimizer (published: 1e-5).")
    polarity: Literal["auto", "inverted", "direct"] = Field(
        "auto",
        description="Map sign after min-max: 'inverted' = 1 - map (official code), 'direct', or 'auto': the sign "
        "whose flagged region, when deleted, lowers the classifier's tumour logit more on anomalous-labelled "
        "validation slices (slice labels only; 'inverted' when neither lowers it).",
    )
    polarity_check_slices: int = Field(64, ge=1, description="Most anomalous-labelled slices used by polarity 'auto'.")
    threshold: float = Field(0.5, gt=0, lt=1, description="Mask = soft map > threshold (published: 0.5).")
    mask_outside_brain: bool = Field(True, description="Zero the soft map and mask outside the brain mask.")
    predict_batch_size: int = Field(32, ge=1, description="Slices per forward pass when generating.")
