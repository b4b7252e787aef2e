"""What a ``rasalore`` result says about itself: deviations, checkpoint selection and notes.

Three kinds of statement, kept apart because the core prints them differently (issue 12):

* **deviations** (:class:`wsad_core.Deviation`): every way a run departs from the published
  method, printed on every result row: a geometry other than the paper's, fewer epochs,
  another optimiser or loss setting, no MedSAM term, another modality, wsad's intensity
  normalisation, and a checkpoint selection other than the official one;
* **checkpoint selection**: how the weights were chosen, in words;
* **notes**: facts that are not deviations: the fixes of the official code's defects
  (seeded LoRE, masks cropped in their own frame, augmentation of training batches only,
  validation by patient; shared/docs/rasalore.md §12), the single LoRE draw, what is not
  known about the inputs.

"Published" means what produced the paper's numbers: the official code where paper and
code disagree (shared/docs/rasalore.md, rule of §0), so the option defaults are the
published values except for ``selection``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsad_core import Deviation, setting_deviations
from wsad_rasalore.config import PAPER, RasaloreOptions

if TYPE_CHECKING:
    from wsad_core import PreprocessConfig

__all__ = ["PUBLISHED_SELECTION", "SELECTION_TEXT", "checkpoint_selection", "deviations", "notes"]

#: The official code's rule (§9, §12 #1), the reference of the ``selection`` deviation.
PUBLISHED_SELECTION = "best epoch by validation Dice against pixel ground truth"

#: ``checkpoint_selection`` for each value of the ``selection`` option.
SELECTION_TEXT = {
    "last": "last epoch",
    "val-loss": "val-loss: lowest loss against the validation slices' pseudo-masks (no ground truth)",
    "gt-val": (
        "gt-val: best epoch by validation Dice against pixel ground truth (official code; uses validation labels)"
    ),
}
_SELECTION_USED = {"last": "last epoch", "val-loss": "lowest validation loss against pseudo-masks"}

# Options whose defaults are the published values (§5-§9). Geometry options are reported as one
# 'preset' deviation; paths, speed knobs and the multimodal options (not in the paper) are not here.
_SETTINGS = (
    "epochs",
    "batch_size",
    "recipe",
    "optimizer",
    "learning_rate",
    "schedule",
    "warmup_epochs",
    "momentum",
    "weight_decay",
    "alpha",
    "beta",
    "point_weight",
    "structure_weight",
    "tversky_delta",
    "el_phi",
    "sigma_mask",
    "sigma_background",
    "overlap",
    "gamma",
    "quantize_8bit",
    "min_crop_extent",
    "min_pseudo_mask_pixels",
    "augment",
    "lore_variant",
    "rasa",
    "first_block_norm",
    "mask_outside_brain",  # the official maps are zero only outside the crop box (§10)
)
_PAPER_MODALITY = "t2"  # paper Table 1 and the bridge modality of Table 2
_NATIVE = 240  # side of the official 8-bit PNGs (BraTS native frame)


def checkpoint_selection(options: RasaloreOptions) -> str:
    """How the kept weights are chosen, e.g. ``"last epoch"``."""
    return SELECTION_TEXT[options.selection]


def deviations(
    options: RasaloreOptions,
    modalities: tuple[str, ...],
    facts: dict[str, Any],
    preprocessing: PreprocessConfig | None,
) -> list[Deviation]:
    """Every known way a run with ``options`` departs from the published RASALoRE.

    Args:
        options: the segmenter's options.
        modalities: the network's modalities, bridge first (empty before ``fit``: the
            configured ones are used where the options name them).
        facts: what ``fit`` found (empty before): ``refined_masks`` tells whether M_SAM was used.
        preprocessing: how the run made its slices, or ``None`` when unknown.
    """
    found: list[Deviation] = []
    geometry = options.geometry()
    if geometry != PAPER:
        overridden = options.heads != PAPER.heads or any(
            getattr(options, name) is not None for name in ("input_size", "num_points", "embed_dim", "width_divisor")
        )
        label = options.preset + (" with overrides" if overridden else "")
        used, published = f"{label}: {geometry.describe()}", f"paper: {PAPER.describe()}"
        found.append(Deviation(kind="setting", what="preset", used=used, published=published))
    settings = [name for name in _SETTINGS if name != "momentum" or options.optimizer == "sgd"]
    if options.schedule == "step":  # under 'cosine' the step options are unused; 'schedule' says it
        settings += ["lr_step_epochs", "lr_decay"]
    if options.validation_source == "training-slices":  # the official split by slice holds out 10 %
        settings.append("validation_fraction")
    found.extend(setting_deviations(options, settings))
    if not options.use_refined_masks or (facts and not facts.get("refined_masks", False)):
        why = "use_refined_masks off" if not options.use_refined_masks else "no refiner masks"
        found.append(
            Deviation(kind="setting", what="MedSAM term κ·EL(T_S)", used=f"dropped ({why})", published="on M_SAM masks")
        )
    found.extend(_modality_deviations(options, modalities))
    if preprocessing is not None and preprocessing.normalisation == "volume-percentile":
        low, high = preprocessing.percentiles
        found.append(
            Deviation(
                kind="default",
                what="intensity normalisation",
                used=f"per volume, brain percentiles {low:g}-{high:g} to [0, 1]",
                published="per slice min-max (8-bit PNG)",
            )
        )
    if options.selection != "gt-val":
        used = _SELECTION_USED[options.selection]
        found.append(Deviation(kind="selection", what="checkpoint", used=used, published=PUBLISHED_SELECTION))
    return found


def _modality_deviations(options: RasaloreOptions, modalities: tuple[str, ...]) -> list[Deviation]:
    multimodal = len(modalities) > 1 or (not modalities and bool(options.multimodal))
    if multimodal:
        bridge = modalities[0] if modalities else options.bridge_modality
        if bridge != _PAPER_MODALITY:
            return [Deviation(kind="modality", what="bridge modality", used=bridge, published=_PAPER_MODALITY)]
        return []
    modality = modalities[0] if modalities else options.modality
    if modality is not None and modality != _PAPER_MODALITY:
        # Worded as the benchmark words it (what "modality", published "t2"): the core lists one fact once.
        return [Deviation(kind="modality", what="modality", used=modality, published=_PAPER_MODALITY)]
    return []


def notes(
    options: RasaloreOptions,
    modalities: tuple[str, ...],
    preprocessing: PreprocessConfig | None,
    lore_seed: int | None = None,
) -> tuple[str, ...]:
    """Facts shown with the results that are not deviations from the published method."""
    out = [_intensity_note(options, preprocessing)]
    fixes = ["LoRE seeded"]
    if options.sam_crop_frame == "own":
        fixes.append("every mask cropped in its own frame")
    if options.augment:
        fixes.append("augmentation on training batches only")
    if options.validation_source == "patients":
        fixes.append("validation by patient (official: 10 % of the training slices; patients leak)")
    out.append("fixes of the official code's defects (listed in the plugin's README): " + "; ".join(fixes))
    if options.sam_crop_frame == "official-240":
        out.append(
            "sam_crop_frame=official-240: M_SAM cropped with 240² indices as the official code "
            "(its defect, see the plugin's README)"
        )
    if options.validation_source == "training-slices":
        share = f"{options.validation_fraction:.0%}"
        out.append(f"validation_source=training-slices: {share} of the training slices held out, split by slice")
    seed = "derived from the run seed" if lore_seed is None else str(lore_seed)
    out.append(f"one LoRE draw (seed {seed}); paper Table 1 is the mean of 5 draws")
    if len(modalities) > 1:
        predict = options.predict_modality or modalities[0]
        out.append(
            f"multimodal RASALoRE over {', '.join(modalities)} (bridge {modalities[0]}); maps predicted from "
            f"{predict}; λ_align {options.align_weight:g} ({options.align_reduction}), bridge RASA "
            f"{'frozen' if options.freeze_bridge_rasa else 'trained'}: not specified by the paper"
        )
    return tuple(out)


def _intensity_note(options: RasaloreOptions, preprocessing: PreprocessConfig | None) -> str:
    pipeline = f"gamma {options.gamma:g}" + (" with 8-bit truncation" if options.quantize_8bit else "")
    if preprocessing is None:
        return (
            f"intensities: the run's slice normalisation is unknown here; v = 255·x, {pipeline} (official: per-slice "
            "min-max 8-bit PNGs)"
        )
    if preprocessing.normalisation == "slice-minmax":
        size = preprocessing.size
        frame = "" if size == _NATIVE else f" (on {size}² slices; official: native {_NATIVE}²)"
        return f"intensities: per-slice min-max as the official PNG export, v = 255·x, {pipeline}{frame}"
    return f"intensities: per-volume [0, 1] slices, v = 255·x, {pipeline}"
