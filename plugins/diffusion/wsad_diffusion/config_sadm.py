"""Options of ``sadm`` and ``sadm_res``: the defaults are the published configuration.

Sources (``shared/docs/baselines.md`` of the wsad project, §6.1, §6.4; Behrendt et al., MIDL 2024, §3, §4,
appendices B.1, C, D; the official code FinnBehrendt/Supervised-Anomaly-Detection-with-Diffusion-Models,
``SADM_2D.py``, ``SegUnet.py``, ``utils_eval.py``, configs ``SADM_DRAEM.yaml`` / ``SADM_BRATS.yaml``):

* stage I: a frozen cDDPM trained on healthy slices (§6.4; any unsupervised reconstruction segmenter can
  stand in, recorded as a ``substitute``);
* stage II: the U-Net of appendix B.1, 3 levels of 64/128/256 channels (the code's default is 4 levels up to
  512: ``depth=4``), BCE, Adam 5e-5, batch 32, 600 epochs of one random slice per volume (§6.1), the
  checkpoint with the lowest validation loss (appendix B);
* score (§6.4, ``utils_eval.py``): ``β (1 - SSIM(x, x̂)) + (1 - β) sigmoid(UNet)``, the SSIM part with a
  Gaussian window of σ = 1 (9 taps) on each 96 x 96 x D volume and a 3-D median of 5, both parts times the
  brain mask, no erosion, no connected-component filter. β = 0.5: the paper's main results use Eq. 3, the
  unweighted sum ``x̃ + ŷ`` (also the official code's default, ``lambda_cam`` unset), which is
  2 x (0.5 x̃ + 0.5 ŷ): the same ranking and the same best-Dice segmentation, at half the scale. Appendix D
  only sweeps β over [0, 1] in a figure (no value is given in its text).

Options listed in ``SADM_SETTING_FIELDS`` that differ from their defaults are reported on every result row;
fields whose description starts with "Size" are what CPU runs shrink.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SADM_SETTING_FIELDS", "SADMOptions", "reads_validation_masks"]

SADM_SETTING_FIELDS = (
    "image_size", "depth", "base_channels", "epochs", "epoch_sampling", "batch_size", "learning_rate", "beta",
    "ssim_sigma", "ssim_volume", "median_size",
)  # fmt: skip


class SADMOptions(BaseModel):
    """Options of ``sadm`` (stage II sees the input) and ``sadm_res`` (and the residual to the reconstruction)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reconstruction: str = Field(
        "cddpm",
        description="Stage I: a registered unsupervised segmenter that exposes its reconstructions "
        "(reconstruct_slices; ae, dae, ddpm, pddpm, mddpm, cddpm). Published: cDDPM (SADM paper, MIDL 2024).",
    )
    reconstruction_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the stage-I segmenter; its own defaults are its published configuration.",
    )
    stage2_data: Literal["auto", "draem", "pseudo-masks"] = Field(
        "auto",
        description="Stage-II training data: DRAEM anomalies on the healthy training slices (self-supervised), "
        "the generator's pseudo-masks on all training slices (weakly supervised), or auto: pseudo-masks when "
        "the run has a generator, else DRAEM.",
    )
    image_size: int = Field(96, ge=16, description="Size: slices are resized to this square inside the method (96).")
    depth: int = Field(3, ge=1, description="Size: U-Net levels (paper: 3; the official code's default: 4).")
    base_channels: int = Field(
        64, ge=1, description="Size: channels of the first level, doubled per level (published: 64)."
    )
    epochs: int = Field(600, ge=1, description="Size: stage-II training epochs (published: 600).")
    epoch_sampling: Literal["slice-per-volume", "all-slices"] = Field(
        "slice-per-volume",
        description="An epoch is one random slice per training volume (published) or every slice (CPU runs on "
        "few patients: more steps per epoch).",
    )
    batch_size: int = Field(32, ge=1, description="Size: slices per step (published: 32).")
    learning_rate: float = Field(5e-5, gt=0, description="Adam learning rate of stage II (published: 5e-5).")
    selection: Literal["best-validation", "last"] = Field(
        "best-validation",
        description="Weights kept: the lowest stage-II loss on validation slices (published) or the last epoch's.",
    )
    beta: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Weight of the SSIM map against the U-Net's probabilities (appendix D); 0.5 is the paper's "
        "unweighted sum (Eq. 3) halved.",
    )
    ssim_sigma: float = Field(1.0, gt=0, description="σ of the SSIM's Gaussian window (published: 1, 9 taps).")
    ssim_volume: bool = Field(
        True,
        description="SSIM over each volume's slice stack with a 3-D window (as the official evaluation) or per "
        "slice (False).",
    )
    median_size: int = Field(5, ge=1, description="3-D median filter of the SSIM map per volume (published: 5).")
    predict_batch_size: int = Field(32, ge=1, description="Slices per prediction step (speed only).")

    @model_validator(mode="after")
    def _consistent(self) -> SADMOptions:
        if self.image_size % 2 ** (self.depth - 1):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by 2**{self.depth - 1} (depth {self.depth})"
            )
        return self


def reads_validation_masks(options: SADMOptions) -> bool:
    """Whether ``fit`` reads the validation pseudo-masks: checkpoint selection on them (weakly supervised)."""
    return options.selection == "best-validation" and options.stage2_data != "draem"
