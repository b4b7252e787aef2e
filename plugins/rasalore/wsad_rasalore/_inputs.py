"""What a fit or predict call works on: channels, the two kinds of pseudo-masks, the validation slices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wsad_core import ConfigError, ContractError, MaskSet, SliceSet
from wsad_core.training import derive_seed
from wsad_rasalore.config import RasaloreOptions

__all__ = ["MaskPair", "hold_out_slices", "model_modalities", "split_masks", "require_channels"]

_HOLD_OUT_STREAM = 4  # derive_seed key of the 'training-slices' validation split


def model_modalities(options: RasaloreOptions, available: tuple[str, ...]) -> tuple[str, ...]:
    """Modalities the network has a RASA for, bridge first; checked against the data's channels.

    Raises:
        ConfigError: a requested modality is absent, or several channels and no ``modality``.
    """
    if options.multimodal:
        ordered = (options.bridge_modality, *(m for m in options.multimodal if m != options.bridge_modality))
        require_channels(ordered, available)
        return ordered
    if options.modality is not None:
        require_channels((options.modality,), available)
        return (options.modality,)
    if len(available) != 1:
        raise ConfigError(
            f"rasalore: the data have {len(available)} channels {available}; the single-modality model needs one",
            hint="set -o segmenter.modality=<one of them>, or -o segmenter.multimodal=[...] for the multimodal variant",
        )
    return available


def require_channels(wanted: tuple[str, ...], available: tuple[str, ...]) -> list[int]:
    """Channel positions of ``wanted`` in ``available``.

    Raises:
        ConfigError: naming the missing modalities and what the data have.
    """
    missing = [m for m in wanted if m not in available]
    if missing:
        raise ConfigError(
            f"rasalore: modality {', '.join(repr(m) for m in missing)} requested but the data have only {available}",
            hint="load it with -o data.modalities=[...] if the dataset has it; the shared BraTS 2018 cases have only "
            "flair and t1 (use flair as the T2 substitute, e.g. -o segmenter.bridge_modality=flair)",
        )
    return [available.index(m) for m in wanted]


@dataclass(frozen=True, slots=True)
class MaskPair:
    """The generator's masks D (M_DDPT) and, when a refiner ran and is used, its masks S (M_SAM)."""

    ddpt: np.ndarray
    sam: np.ndarray | None
    source: str


def split_masks(masks: MaskSet, slices: SliceSet, use_refined: bool, what: str) -> MaskPair:
    """D and S from a core :class:`MaskSet` (refined masks keep the generator's in ``upstream``).

    Raises:
        ContractError: the masks do not match the slices.
    """
    if len(masks) != len(slices) or masks.masks.shape[1:] != slices.spatial_shape:
        raise ContractError(
            f"rasalore: {what} pseudo-masks {masks.masks.shape} do not match the {what} slices "
            f"({len(slices)}, {slices.spatial_shape})"
        )
    if masks.upstream is None:
        return MaskPair(masks.masks, None, masks.source)
    upstream = masks.upstream
    return MaskPair(upstream.masks, masks.masks if use_refined else None, masks.source)


def hold_out_slices(positions: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The official 90/10 split by slice, but seeded and on a fixed order: ``(train, held_out)`` positions.

    ``positions`` come sorted (slice-set order); a permutation from ``derive_seed(seed, 4)``
    picks ``ceil(fraction·n)`` of them (sklearn's ``train_test_split`` rounds up too).
    """
    n = len(positions)
    held = int(np.ceil(fraction * n)) if n > 1 else 0
    order = np.random.default_rng(derive_seed(seed, _HOLD_OUT_STREAM)).permutation(n)
    return np.sort(positions[order[held:]]), np.sort(positions[order[:held]])
