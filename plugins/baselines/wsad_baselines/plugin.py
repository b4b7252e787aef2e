"""Hook implementations of wsad-baselines.

Reference baselines (``zscore``, ``unet``) and the published comparison methods of
RASALoRE's Table 1 trained from scratch here (``ame-cam``, ``ae``, ``dae``). Importing this
module imports neither torch nor MONAI: the factories do, when a run builds a method.
"""

from __future__ import annotations

from wsad_baselines._factories import (
    build_ae,
    build_ame_cam,
    build_dae,
    build_patch2loc,
    build_unet,
    build_zscore,
    load_ae,
    load_dae,
    load_patch2loc,
    load_unet,
    load_zscore,
)
from wsad_baselines.config import UNetOptions, ZScoreOptions
from wsad_baselines.config_amecam import AmeCamOptions
from wsad_baselines.config_patch2loc import Patch2LocOptions
from wsad_baselines.config_recon import AEOptions, DAEOptions
from wsad_core import GeneratorSpec, IOContract, SegmenterSpec, hookimpl

__all__ = ["wsad_register_generators", "wsad_register_segmenters"]

_LICENSE = "Apache-2.0"


@hookimpl
def wsad_register_generators() -> list[GeneratorSpec]:
    """The ``zscore`` reference generator and the ``ame-cam`` CAM generator."""
    return [
        GeneratorSpec(
            name="zscore",
            summary="Per-pixel intensity z-score against healthy-labelled training slices "
            "(reference baseline, not a published method).",
            options=ZScoreOptions,
            factory=build_zscore,
            loader=load_zscore,
            license=_LICENSE,
            reference=True,
            io=IOContract(output_kind="probability", deterministic=True),
        ),
        GeneratorSpec(
            name="ame-cam",
            summary="AME-CAM: multi-exit ResNet-18 (InstanceNorm) CAMs from slice labels, SimCLR pre-training and "
            "attention aggregation; soft map = min-maxed mean of the 4 CAMs and the aggregated map, mask > 0.5.",
            options=AmeCamOptions,
            factory=build_ame_cam,
            citation="Chen et al., AME-CAM: Attentive Multiple-Exit CAM for Weakly Supervised Segmentation on MRI "
            "Brain Tumor, MICCAI 2023 (arXiv:2306.14505)",
            license=_LICENSE,
            # Min-maxed per image to [0, 1] with a 0.5 cut-off by construction (baselines.md §1, §9.1).
            io=IOContract(output_kind="probability", deterministic=True),
        ),
    ]


def _unet_reads_validation_masks(options: UNetOptions) -> bool:
    """Only the 'best-validation' selection scores the validation patients' pseudo-masks."""
    return options.selection == "best-validation"


@hookimpl
def wsad_register_segmenters() -> list[SegmenterSpec]:
    """The ``unet`` reference segmenter and the unsupervised ``ae`` and ``dae``."""
    return [
        SegmenterSpec(
            name="unet",
            summary="Small 2-D MONAI U-Net trained on pseudo-masks with BCE + Dice "
            "(reference baseline, not a published method).",
            options=UNetOptions,
            factory=build_unet,
            loader=load_unet,
            license=_LICENSE,
            reference=True,
            io=IOContract(output_kind="probability", deterministic=True),
            needs_pseudo_masks=True,
            uses_validation_masks=_unet_reads_validation_masks,
        ),
        SegmenterSpec(
            name="ae",
            summary="Dense-bottleneck autoencoder of Baur et al. on healthy slices; score = positive residual in the "
            "eroded brain with hyperintensity prior and 3-D median (unbounded score map).",
            options=AEOptions,
            factory=build_ae,
            loader=load_ae,
            citation="Baur et al., Autoencoders for unsupervised anomaly segmentation in brain MR images: "
            "a comparative study, Medical Image Analysis 2021",
            license=_LICENSE,
            # Residuals are unbounded: the evaluator's threshold rule binarises them (§9.1).
            io=IOContract(output_kind="score", deterministic=True),
            needs_pseudo_masks=False,
        ),
        SegmenterSpec(
            name="dae",
            summary="Denoising U-Net autoencoder of Kascenas et al. (coarse noise) on healthy slices; score = "
            "|x - x_hat| in the eroded brain, 5x5 median (unbounded score map).",
            options=DAEOptions,
            factory=build_dae,
            loader=load_dae,
            citation="Kascenas et al., Denoising autoencoders for unsupervised anomaly detection in brain MRI, "
            "MIDL 2022",
            license=_LICENSE,
            io=IOContract(output_kind="score", deterministic=True),
            needs_pseudo_masks=False,
        ),
        SegmenterSpec(
            name="patch2loc",
            summary="Patch2Loc: ResNet-18 regresses a patch's location in its slice with its uncertainty (beta-NLL) "
            "on healthy slices; score = log location error + log variance (unbounded, log scale).",
            options=Patch2LocOptions,
            factory=build_patch2loc,
            loader=load_patch2loc,
            citation="Baker & Brockmeier, Patch2Loc: Learning to Localize Patches for Unsupervised Brain Lesion "
            "Detection, AISTATS 2026",
            license=_LICENSE,
            io=IOContract(output_kind="score", deterministic=True),
            needs_pseudo_masks=False,
        ),
    ]
