"""The caveats a ``rasalore`` result carries (shown in every output of the run)."""

from __future__ import annotations

from typing import Any

from wsad_rasalore.config import PAPER, RasaloreOptions

__all__ = ["notes"]

_PAPER_EPOCHS = 200


def notes(options: RasaloreOptions, modalities: tuple[str, ...], facts: dict[str, Any]) -> tuple[str, ...]:
    """Human-readable caveats for ``options`` and what the fit found."""
    out: list[str] = []
    geometry = options.geometry()
    if geometry != PAPER:
        overridden = (
            any(
                getattr(options, name) is not None
                for name in ("input_size", "num_points", "embed_dim", "width_divisor")
            )
            or options.heads != PAPER.heads
        )
        label = f"preset {options.preset}" + (" with overrides" if overridden else "")
        out.append(f"{label}: {geometry.describe()} — not the paper configuration ({PAPER.describe()})")
    if options.epochs != _PAPER_EPOCHS:
        out.append(f"trained {options.epochs} epoch(s) (paper: {_PAPER_EPOCHS})")
    if facts and not facts.get("refined_masks", False):
        out.append(
            "without MedSAM: no refined masks, the κ·EL(T_S) term is dropped (the paper's 'RASALoRE without MedSAM')"
        )
    out.append(
        "model selection: "
        + ("last epoch" if options.selection == "last" else "lowest loss on validation pseudo-masks")
        + " (official code: best validation Dice against pixel ground truth — not reproducible by design)"
    )
    out.append(
        "intensities: wsad's per-volume [0, 1] slices ×255, gamma 2, 8-bit truncation (official: per-slice "
        "min-max 8-bit PNGs)"
    )
    if len(modalities) > 1:
        if modalities[0] != "t2":
            out.append(f"multimodal bridge modality {modalities[0]} stands in for the paper's T2")
        predict = options.predict_modality or modalities[0]
        out.append(f"multimodal RASALoRE over {', '.join(modalities)}; maps predicted from {predict}")
    elif modalities and modalities[0] != "t2":
        out.append(f"modality {modalities[0]} (paper Table 1: T2)")
    seeds = "" if options.lore_seed is None else f" {options.lore_seed}"
    out.append(f"one LoRE draw (seed{seeds or ' derived from the run seed'}); paper Table 1 is the mean of 5 draws")
    deviations = [
        name
        for name, value, default in (
            ("overlap", options.overlap, "tversky"),
            ("lore_variant", options.lore_variant, "official"),
            ("augment", options.augment, True),
            ("sam_crop_frame", options.sam_crop_frame, "own"),
            ("optimizer", options.optimizer, "sgd"),
            ("learning_rate", options.learning_rate, 0.01),
            ("alpha", options.alpha, 0.6),
            ("beta", options.beta, 0.6),
        )
        if value != default
    ]
    if deviations:
        out.append("non-default options: " + ", ".join(f"{n}={getattr(options, n)}" for n in deviations))
    return tuple(out)
