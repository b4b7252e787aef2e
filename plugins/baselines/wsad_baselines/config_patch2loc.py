"""Options of ``patch2loc`` (Baker & Brockmeier, AISTATS 2026): defaults are the official configuration.

Sources: the wsad project's ``shared/docs/baselines.md`` §5 and the official configs
(``configs/model/patch2loc.yaml``, ``configs/experiment/patch2loc.yaml``): 192² T2 slices, patches of
12.5 % of the side (24 px), 4 × 8096 patch centres per batch of 356 slices (one per training volume),
patches with less than 20 % brain rejected, ResNet-18 with a 3×3 stride-2 stem, a 512-d sinusoidal
embedding of the slice position, β-NLL with β = 0.5, Adam 1e-2 without schedule, 15000 epochs, the best
checkpoint, every pixel a patch centre at test (stride 1), 3-D median 7 in the eroded brain.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["METHOD_FIELDS_PATCH2LOC", "Patch2LocOptions"]

METHOD_FIELDS_PATCH2LOC = (
    "image_size", "patch_fraction", "min_brain_fraction", "patches_per_batch", "slices_per_batch", "latent_dim",
    "beta", "learning_rate", "epochs", "stride", "erosion_iterations", "median_size",
)  # fmt: skip


class Patch2LocOptions(BaseModel):
    """Options of ``patch2loc``: a patch's location in its slice, regressed with its uncertainty."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: int = Field(192, ge=32, description="Size: slices are resized to this square (published: 192).")
    patch_fraction: float = Field(
        0.125, gt=0, lt=1, description="Patch side as a fraction of the slice side (published: 0.125, 24 px at 192)."
    )
    min_brain_fraction: float = Field(
        0.2, ge=0, le=1, description="Training patches with less brain than this are rejected (published: 0.2)."
    )
    patches_per_batch: int = Field(
        4 * 8096, ge=1, description="Size: random patch centres per training batch (published: 4 x 8096)."
    )
    slices_per_batch: int = Field(
        356, ge=1, description="Size: slices the centres are drawn from per batch (published: 356 volumes, one each)."
    )
    latent_dim: int = Field(512, ge=8, description="ResNet-18 feature and position-embedding width (published: 512).")
    beta: float = Field(0.5, ge=0, le=1, description="beta of the beta-NLL loss (published: 0.5; 0 is plain NLL).")
    learning_rate: float = Field(1e-2, gt=0, description="Adam learning rate, no schedule (published: 1e-2).")
    epochs: int = Field(15000, ge=1, description="Size: training epochs (published: 15000 of one batch each).")
    batches_per_epoch: int = Field(
        1, ge=1, description="Size: batches per epoch, i.e. per checkpoint and validation (published: 1)."
    )
    selection: Literal["best-validation", "last"] = Field(
        "best-validation",
        description="Weights kept: the lowest loss on healthy validation slices (published 'best') or the last.",
    )
    stride: int = Field(
        1, ge=1, description="Size: test patch centres every stride pixels, maps up-sampled bilinearly (published: 1)."
    )
    erosion_iterations: int = Field(
        7, ge=0, description="Brain-mask erosion steps before scoring (official evaluation: floor(192 / 25) = 7)."
    )
    median_size: int = Field(7, ge=1, description="3-D median filter of the map per volume (published: 7).")
    predict_batch_size: int = Field(4096, ge=1, description="Patches per forward pass when predicting (speed only).")

    @property
    def patch_size(self) -> int:
        """The patch side in pixels (even, at least 4)."""
        return max(4, 2 * round(self.patch_fraction * self.image_size / 2))

    @model_validator(mode="after")
    def _check(self) -> Patch2LocOptions:
        if self.stride >= self.image_size:
            raise ValueError(f"stride {self.stride} must be smaller than image_size {self.image_size}")
        return self
