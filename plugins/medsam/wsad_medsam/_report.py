"""Notes and provenance every MedSAM role object exposes (shown with, and stored beside, every result)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsad_medsam.config import MedSAMCommonOptions
    from wsad_medsam.engine import MedSAMEngine

__all__ = ["notes_for", "provenance_for"]

_BOX_FROM = {
    "largest": "tight box of the largest component",
    "all": "tight box of all foreground pixels",
    "each": "one box per component",
}


def notes_for(engine: MedSAMEngine, options: MedSAMCommonOptions, prompt_kind: str) -> list[str]:
    """Caveats: which backbone ran, how prompts were made, and which defects are reproduced."""
    notes = list(engine.backend.notes)
    box_from = _BOX_FROM[options.box_from]  # type: ignore[attr-defined]
    if prompt_kind == "point":
        where = getattr(options, "point_region", "box")
        notes.append(f"prompt: {getattr(options, 'num_points', 10)} random positive points in the {where} ({box_from})")
    else:
        notes.append(f"prompt: {box_from} of each pseudo-mask")
    jitter = options.jitter_max_px  # type: ignore[attr-defined]
    if jitter:
        notes.append(f"box sides pushed out by seeded 0..{jitter} px (RASALoRE: unseeded 0..19 px at 224)")
    if options.faithful_box_frame_bug:
        notes.append("reproduces RASALoRE's box-frame defect (224-frame prompts used as 240-frame, x 224/240)")
    if options.probability_rescale == "minmax":
        notes.append("probabilities min-maxed per slice before the threshold (RASALoRE)")
    return notes


def provenance_for(engine: MedSAMEngine, options: MedSAMCommonOptions, prompt_kind: str) -> dict[str, Any]:
    """Backend facts (weights path and sha256, versions, preprocessing), prompt settings and work counters."""
    return {
        **engine.backend.provenance,
        "device": engine.backend.device,
        "amp": engine.backend.amp,
        "prompt": prompt_kind,
        "options": options.model_dump(mode="json"),
        "work": engine.describe(),
    }
