"""Hook implementations of wsad-diffusion: the ``ddpm``, ``pddpm`` and ``mddpm`` segmenters (imports nothing heavy).

Also ``sadm`` and ``sadm_res`` (SADM: stage I any reconstruction segmenter, built through the core).
"""

from __future__ import annotations

from wsad_core import IOContract, SegmenterSpec, hookimpl
from wsad_diffusion import __version__
from wsad_diffusion._factories import (
    build_cddpm,
    build_ddpm,
    build_mddpm,
    build_pddpm,
    build_sadm,
    build_sadm_res,
    load_cddpm,
    load_ddpm,
    load_mddpm,
    load_pddpm,
    load_sadm,
    load_sadm_res,
)
from wsad_diffusion.config import DDPMOptions, MDDPMOptions, PDDPMOptions
from wsad_diffusion.config_cddpm import CDDPMOptions
from wsad_diffusion.config_sadm import SADMOptions, reads_validation_masks

__all__ = ["wsad_register_segmenters"]

_SCORE = IOContract(output_kind="score", deterministic=True)


@hookimpl
def wsad_register_segmenters() -> list[SegmenterSpec]:
    """The diffusion segmenters, trained on healthy slices (unsupervised)."""
    return [
        SegmenterSpec(
            name="ddpm",
            summary="DDPM with simplex noise on healthy slices; score = |x - x_hat| after one-step x0 prediction "
            "from t=500 (unbounded score map).",
            options=DDPMOptions,
            factory=build_ddpm,
            loader=load_ddpm,
            version=__version__,
            citation="Behrendt et al., MIDL 2023 (DDPM baseline); Wyatt et al., CVPRW 2022 (simplex noise)",
            license="Apache-2.0",
            io=_SCORE,
            needs_pseudo_masks=False,
        ),
        SegmenterSpec(
            name="pddpm",
            summary="Patched DDPM: one 48-px grid box noised at a time, the rest as context; boxes stitched at test "
            "(unbounded score map).",
            options=PDDPMOptions,
            factory=build_pddpm,
            loader=load_pddpm,
            version=__version__,
            citation="Behrendt et al., Patched Diffusion Models for Unsupervised Anomaly Detection, MIDL 2023",
            license="Apache-2.0",
            io=_SCORE,
            needs_pseudo_masks=False,
        ),
        SegmenterSpec(
            name="mddpm",
            summary="Masked DDPM: pDDPM with image/frequency patch masking (IPM, FPM, FPM-CM) of the training "
            "slices (unbounded score map).",
            options=MDDPMOptions,
            factory=build_mddpm,
            loader=load_mddpm,
            version=__version__,
            citation="Iqbal et al., Unsupervised Anomaly Detection in Medical Images Using Masked Diffusion Model, "
            "MLMI 2023",
            license="Apache-2.0",
            io=_SCORE,
            needs_pseudo_masks=False,
        ),
        SegmenterSpec(
            name="cddpm",
            summary="Conditioned DDPM: the UNet conditioned on a ResNet embedding of the input (encoder pretrained "
            "by patch masking); mean of reconstructions from t=250/500/750 (unbounded score map).",
            options=CDDPMOptions,
            factory=build_cddpm,
            loader=load_cddpm,
            version=__version__,
            citation="Behrendt et al., Guided Reconstruction with Conditioned Diffusion Models for Unsupervised "
            "Anomaly Detection in Brain MRIs, arXiv 2312.04215",
            license="Apache-2.0",
            io=_SCORE,
            needs_pseudo_masks=False,
        ),
        *_sadm_specs(),
    ]


def _sadm_specs() -> list[SegmenterSpec]:
    """SADM (Behrendt et al., MIDL 2024): stage I any reconstruction segmenter, stage II a (Siamese) U-Net.

    Trained without pseudo-masks (DRAEM anomalies, self-supervised) unless the run has a generator: then on
    its pseudo-masks (weakly supervised), hence ``needs_pseudo_masks=False, accepts_pseudo_masks=True``.
    """
    common = {
        "options": SADMOptions,
        "version": __version__,
        "citation": "Behrendt et al., Combining Reconstruction-based Unsupervised Anomaly Detection with "
        "Supervised Segmentation for Brain MRIs (SADM), MIDL 2024",
        "license": "Apache-2.0",
        # beta (1 - SSIM) + (1 - beta) sigmoid lies in [0, 1 + beta] (SSIM can be negative): a score, not a
        # calibrated probability; thresholds come from the evaluator's rules, as the paper's best-Dice search.
        "io": _SCORE,
        "needs_pseudo_masks": False,
        "accepts_pseudo_masks": True,
        "uses_validation_masks": reads_validation_masks,
    }
    return [
        SegmenterSpec(
            name="sadm",
            summary="SADM: a frozen reconstruction model (cDDPM) + a U-Net on the input trained on DRAEM anomalies "
            "or the run's pseudo-masks; score = beta (1 - SSIM) + (1 - beta) sigmoid (unbounded score map).",
            factory=build_sadm,
            loader=load_sadm,
            **common,  # type: ignore[arg-type]
        ),
        SegmenterSpec(
            name="sadm_res",
            summary="SADM_res: as sadm, the U-Net's shared encoder also sees the residual x - x_hat (features "
            "concatenated per level); the paper's best variant (unbounded score map).",
            factory=build_sadm_res,
            loader=load_sadm_res,
            **common,  # type: ignore[arg-type]
        ),
    ]
