"""Options of the reference baselines.

These are not published methods, so no paper fixes their defaults: each default is a
plain choice for 256 x 256 slices normalised to [0, 1], stated in its description.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["UNetOptions", "ZScoreOptions"]


class ZScoreOptions(BaseModel):
    """Options of the ``zscore`` pseudo-mask generator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(
        2.0, description="z-score (after polarity) at or above which a brain pixel is flagged; default 2 SD."
    )
    steepness: float = Field(
        2.0, gt=0, description="Slope of the soft map sigmoid((z - threshold) * steepness), per unit of z."
    )
    smoothing_sigma: float = Field(
        1.0, ge=0, description="Gaussian smoothing of the z map inside the brain, in pixels (0 disables)."
    )
    polarity: Literal["hyper", "hypo", "both"] = Field(
        "hyper",
        description="Flag bright ('hyper', lesions on FLAIR/T2), dark ('hypo') or both ('both', |z|) deviations.",
    )
    min_component_pixels: int = Field(
        16, ge=0, description="Connected components (8-connected, per slice) smaller than this are removed."
    )


class UNetOptions(BaseModel):
    """Options of the ``unet`` segmenter; defaults train the demo (~500 slices, 256 px) in about 2 min on 2 cores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: tuple[int, ...] = Field(
        (16, 32, 64, 128), description="Feature channels per U-Net level; each level halves the resolution."
    )
    num_res_units: int = Field(0, ge=0, le=4, description="Residual units per MONAI U-Net block (0: plain convs).")
    epochs: int = Field(4, ge=1, description="Training epochs.")
    batch_size: int = Field(16, ge=1, description="Training slices per optimisation step.")
    learning_rate: float = Field(1e-3, gt=0, description="Adam learning rate.")
    dice_weight: float = Field(1.0, ge=0, description="Weight of the soft Dice term; loss = BCE + weight * Dice.")
    include_healthy_slices: bool = Field(
        True,
        description="Also train on healthy-labelled slices with empty masks (exact, by their weak label).",
    )
    hflip_p: float = Field(0.5, ge=0, le=1, description="Probability of a left-right flip of a training slice.")
    vflip_p: float = Field(0.0, ge=0, le=1, description="Probability of an up-down flip of a training slice.")
    selection: Literal["last", "best-validation"] = Field(
        "last",
        description="Weights kept: the last epoch's, or the epoch with the lowest loss on the validation "
        "slices' pseudo-masks (never ground truth).",
    )
    mask_outside_brain: bool = Field(True, description="Set predicted probabilities outside the brain mask to 0.")
    predict_batch_size: int = Field(32, ge=1, description="Slices per forward pass at prediction time.")

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(value) < 2 or any(c < 1 for c in value):
            raise ValueError(f"channels needs at least two positive entries, got {value}")
        return value
