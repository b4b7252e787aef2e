"""Every way a DDPT run departs from the published method, as :class:`~wsad_core.Deviation` records.

"Published" is what produced the paper's DDPT numbers: the official code's configuration (the
option defaults, shared/docs/rasalore.md §3, "R§3") on OpenAI CLIP ViT-B/32 weights and T2 slices
(Table 1). Fixes of official-code defects (float maps, the empty-map guard, fp32 on CPU) are not
deviations; the README lists them.

Nothing here imports torch, so the records can be computed from options and facts alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wsad_core import Deviation, setting_deviations
from wsad_ddpt._weights import OPENAI_VIT_B_32_SHA256

if TYPE_CHECKING:
    from wsad_ddpt.config import DDPTOptions

__all__ = [
    "KNOWN_WEIGHTS_SHA256",
    "PUBLISHED_MODALITY",
    "SETTING_FIELDS",
    "checkpoint_selection",
    "ddpt_deviations",
]

#: sha256 of the weights files known to be the official release, with their names. Only the OpenAI file
#: is listed: its sha256 is part of its download URL (open_clip's pretrained table). open_clip's converted
#: copy on the Hugging Face hub (timm/vit_base_patch32_clip_224.openai) holds the same weights, but no
#: checksum of that file is recorded in open_clip, the docs or this code, so it counts as unverified.
KNOWN_WEIGHTS_SHA256: Mapping[str, str] = {OPENAI_VIT_B_32_SHA256: "OpenAI ViT-B-32.pt"}
#: The MR contrast of the paper's Table 1 (and of the official code's default).
PUBLISHED_MODALITY = "t2"
_PUBLISHED_BACKBONE = "ViT-B-32 (OpenAI CLIP ViT-B/32)"
_PUBLISHED_WEIGHTS = f"OpenAI ViT-B-32.pt, sha256 {OPENAI_VIT_B_32_SHA256[:12]}…"
_LAST_EPOCH = "last epoch"

#: Options that define the published method (R§3), compared with their defaults. Left out: where the
#: weights come from (``weights``, ``weights_sha256``, ``allow_random_init``: the weights' identity is
#: checked instead), ``model`` and ``pretrained`` (reported as the backbone and the weights), ``channel``
#: (reported as the modality), ``selection`` (its own kind) and ``predict_batch_size`` (same maps).
SETTING_FIELDS: tuple[str, ...] = (
    "quick_gelu", "logit_scale", "template", "class_words", "class_position", "n_ctx", "vpt_tokens",
    "cavpt_tokens", "cavpt_dim", "class_prompts", "train_text", "map_text", "aux_weight",
    "general_knowledge_epochs", "epochs", "lr", "coop_lr", "warmup_epochs", "coop_warmup_epochs", "warmup_lr",
    "momentum", "weight_decay", "batch_size", "shots", "train_fraction", "slice_minmax", "crop_scale", "hflip_p",
    "map_normalisation", "map_threshold", "map_upsample", "healthy_slices", "class_guided", "mask_outside_brain",
)  # fmt: skip
# Published values whose default spelling ("none") would not say what they are.
_PUBLISHED_TEXT = {"logit_scale": "backbone's exp(logit_scale), 100 for OpenAI CLIP"}
_BUNDLED_TEXT = {"ddpt-tiny": "ddpt-tiny (bundled 2-layer width-64 test config)"}


def checkpoint_selection(options: DDPTOptions) -> str:
    """How the trained prompts were chosen, for the results' ``selection`` column."""
    if options.selection == "last":
        return _LAST_EPOCH
    return "best-validation: lowest slice-label cross-entropy on the validation patients"


def _weights(options: DDPTOptions, facts: Mapping[str, Any]) -> list[Deviation]:
    digest = facts.get("weights_sha256")
    if facts.get("weights") is None:
        return [Deviation(kind="weights", what="CLIP weights", used="random init", published=_PUBLISHED_WEIGHTS)]
    if digest in KNOWN_WEIGHTS_SHA256:
        return []
    name = str(facts.get("weights")).replace("\\", "/").rsplit("/", 1)[-1]
    found = [
        Deviation(
            kind="weights",
            what="CLIP weights",
            used=f"{name}, sha256 {str(digest)[:12]}… (not a known official release file, unverified)",
            published=_PUBLISHED_WEIGHTS,
        )
    ]
    # The tag only matters when it chose the file (from the wsad or open_clip cache).
    if facts.get("weights_origin") in ("wsad-cache", "open_clip-cache") and options.pretrained != "openai":
        found.append(Deviation(kind="setting", what="pretrained", used=str(options.pretrained), published="openai"))
    return found


def ddpt_deviations(options: DDPTOptions, facts: Mapping[str, Any], modality: str | None) -> list[Deviation]:
    """The deviations of a DDPT run.

    Args:
        options: the run's options.
        facts: the weights facts of ``_clip.build_clip`` (``weights``, ``weights_sha256``, ``weights_origin``).
        modality: the modality the prompts were trained on (the ``channel`` of the slices given to
            ``fit``, or stored with loaded prompts); ``None`` when not known yet.

    Returns:
        Records in the order weights, backbone, settings, selection, modality.
    """
    found = _weights(options, facts)
    default_model = type(options).model_fields["model"].default
    if options.model != default_model:
        used = _BUNDLED_TEXT.get(options.model, f"open_clip {options.model}")
        found.append(Deviation(kind="substitute", what="backbone", used=used, published=_PUBLISHED_BACKBONE))
    for deviation in setting_deviations(options, SETTING_FIELDS):
        if deviation.what in _PUBLISHED_TEXT:
            deviation = dataclasses.replace(deviation, published=_PUBLISHED_TEXT[deviation.what])
        found.append(deviation)
    if options.selection != "last":
        found.append(
            Deviation(kind="selection", what="checkpoint", used=checkpoint_selection(options), published=_LAST_EPOCH)
        )
    if modality is not None and modality.lower() != PUBLISHED_MODALITY:
        found.append(Deviation(kind="modality", what="modality", used=modality, published=PUBLISHED_MODALITY))
    return found
