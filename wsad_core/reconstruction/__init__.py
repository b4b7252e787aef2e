"""A toolkit for methods trained on healthy slices that score by reconstruction (AE, DAE, DDPMs, ...).

Plugins import it (it needs torch; the core itself never does at import time):

* :class:`ReconstructionSegmenter` — the base class: selects the healthy-labelled slices, trains
  through the core loop (checkpoints, resume, AMP on CUDA only), predicts post-processed,
  unbounded residual maps at the slice size, 0 outside the brain, records deviations, and
  exposes its reconstructions (``reconstruct_slices``: a :class:`~wsad_core.Reconstructor`);
* :class:`HealthySlices`, :class:`LazyBatches` — training data resized per batch;
* :mod:`~wsad_core.reconstruction.postprocess` — erosion, 2-D/3-D medians per volume, quantiles;
* :mod:`~wsad_core.reconstruction.resize` — slices to a method's square size and maps back;
* seeded random streams, checkpoint-directory keys, and the deviation records these methods share
  (a healthy cohort replaced by the patients' tumour-free slices, the pipeline's normalisation).
"""

from wsad_core.reconstruction.data import HealthySlices, LazyBatches
from wsad_core.reconstruction.deviations import HEALTHY_COHORT, input_normalisation, modality_deviation, slice_labels
from wsad_core.reconstruction.keys import hash_slices, run_key
from wsad_core.reconstruction.postprocess import (
    avgpool_erode,
    by_volume,
    erode,
    median_2d,
    median_3d,
    volume_quantile,
)
from wsad_core.reconstruction.resize import batch_to_size, maps_to_size, masks_to_size
from wsad_core.reconstruction.seeding import seeded_global_rng, seeded_init
from wsad_core.reconstruction.segmenter import ReconstructionSegmenter

__all__ = [
    "HEALTHY_COHORT",
    "HealthySlices",
    "LazyBatches",
    "ReconstructionSegmenter",
    "avgpool_erode",
    "batch_to_size",
    "by_volume",
    "erode",
    "hash_slices",
    "input_normalisation",
    "maps_to_size",
    "masks_to_size",
    "median_2d",
    "median_3d",
    "modality_deviation",
    "run_key",
    "seeded_global_rng",
    "seeded_init",
    "slice_labels",
    "volume_quantile",
]
