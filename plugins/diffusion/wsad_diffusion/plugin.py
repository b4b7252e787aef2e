"""Hook implementations of wsad-diffusion: the ``ddpm``, ``pddpm`` and ``mddpm`` segmenters (imports nothing heavy)."""

from __future__ import annotations

from wsad_core import IOContract, SegmenterSpec, hookimpl
from wsad_diffusion import __version__
from wsad_diffusion._factories import build_ddpm, build_mddpm, build_pddpm, load_ddpm, load_mddpm, load_pddpm
from wsad_diffusion.config import DDPMOptions, MDDPMOptions, PDDPMOptions

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
    ]
