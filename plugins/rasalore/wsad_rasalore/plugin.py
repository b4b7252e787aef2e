"""Hook implementations of wsad-rasalore: the ``rasalore`` segmenter (imports nothing heavy)."""

from __future__ import annotations

from wsad_core import IOContract, SegmenterSpec, hookimpl
from wsad_rasalore import __version__
from wsad_rasalore._factories import build_rasalore, load_rasalore
from wsad_rasalore.config import RasaloreOptions

__all__ = ["wsad_register_segmenters"]

CITATION = (
    "Sharma, Jaganathan, Palaniappan. RASALoRE: Region Aware Spatial Attention with Location-based Random "
    "Embeddings for Weakly Supervised Anomaly Detection in Brain MRI Scans. BMVC 2025 (arXiv:2510.08052)"
)


def _reads_validation_masks(options: RasaloreOptions) -> bool:
    """Only the 'val-loss' selection scores the validation patients' pseudo-masks."""
    return options.selection == "val-loss"


@hookimpl
def wsad_register_segmenters() -> list[SegmenterSpec]:
    """The ``rasalore`` segmenter."""
    return [
        SegmenterSpec(
            name="rasalore",
            summary="RASALoRE: region-aware spatial attention with location-based random embeddings, trained "
            "on the generator's (and refiner's) pseudo-masks of anomalous slices (Sharma et al., BMVC 2025).",
            options=RasaloreOptions,
            factory=build_rasalore,
            loader=load_rasalore,
            version=__version__,
            citation=CITATION,
            license="Apache-2.0",
            io=IOContract(output_kind="probability", deterministic=True),
            needs_pseudo_masks=True,
            uses_validation_masks=_reads_validation_masks,
        )
    ]
