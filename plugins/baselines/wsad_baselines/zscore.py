"""``zscore``: flag brain pixels whose intensity is far from that of healthy-labelled slices.

Fit: per-channel mean and standard deviation of the brain pixels of the training slices
labelled HEALTHY (image-level labels are the only supervision). Generate, per slice:

1. ``z = (x - mean_c) / std_c`` per channel inside the brain;
2. optional Gaussian smoothing as a normalised convolution over the brain (pixels
   outside the brain neither contribute nor are diluted toward 0 at its border);
3. polarity ``hyper`` keeps ``z``, ``hypo`` uses ``-z``, ``both`` uses ``|z|``; channels
   are combined by their maximum;
4. soft map ``sigmoid((z - threshold) * steepness)`` inside the brain, 0 outside: a
   monotone map of ``z`` into ``[0, 1]`` that crosses 0.5 exactly at the threshold;
5. mask ``z >= threshold`` inside the brain, without 8-connected components smaller
   than ``min_component_pixels``.

Slices labelled HEALTHY get an all-zero soft map and an empty mask: their weak label is
exact. Slices labelled ANOMALOUS or UNKNOWN (test) get the map-derived outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage, special

from wsad_core import ContractError, DataError, Label, MaskSet
from wsad_core.results import atomic_write_text

if TYPE_CHECKING:
    from wsad_baselines.config import ZScoreOptions
    from wsad_core import BuildContext, SliceSet

__all__ = ["ZScoreGenerator"]

_FORMAT = "wsad-zscore-1"
_CHUNK = 64  # slices per vectorised step: bounds float64 temporaries to ~130 MB at 4 x 256 x 256
_MIN_STD = 1e-6
# Components connect within a slice only: the 3x3 plane in the middle of a 3x3x3 structure.
_PER_SLICE_8 = np.zeros((3, 3, 3), bool)
_PER_SLICE_8[1] = True


class ZScoreGenerator:
    """Intensity z-score pseudo-mask generator (reference baseline).

    Args:
        options: validated :class:`~wsad_baselines.config.ZScoreOptions`.
        context: the run's build context (only the logger is used: the method is
            deterministic and keeps no files).
    """

    notes: tuple[str, ...] = ("reference baseline (intensity z-score), not a published method",)

    def __init__(self, options: ZScoreOptions, context: BuildContext) -> None:
        self.options = options
        self._logger = context.logger
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self._modalities: tuple[str, ...] = ()
        self._healthy_slices = 0

    @property
    def provenance(self) -> dict[str, Any]:
        """Fitted statistics, recorded with the run."""
        return {
            "method": "zscore",
            "modalities": list(self._modalities),
            "mean": None if self.mean_ is None else self.mean_.tolist(),
            "std": None if self.std_ is None else self.std_.tolist(),
            "healthy_slices": self._healthy_slices,
        }

    def fit(self, train: SliceSet, *, validation: SliceSet | None = None) -> None:
        """Estimate per-channel brain-intensity statistics from healthy-labelled slices.

        Args:
            train: labelled training slices.
            validation: unused (nothing to select).

        Raises:
            DataError: no slice is labelled healthy, the healthy slices hold no brain
                pixels, or a channel is constant over them.
        """
        del validation
        healthy = train.where_label(Label.HEALTHY)
        if healthy.size == 0:
            raise DataError(
                f"zscore: none of the {len(train)} training slices is labelled healthy (label 0)",
                hint="the z-score baseline needs healthy slices; check the split or use another generator",
            )
        channels = train.images.shape[1]
        count, total, squares = 0, np.zeros(channels), np.zeros(channels)
        for start in range(0, healthy.size, _CHUNK):
            index = healthy[start : start + _CHUNK]
            brain = train.brain_masks[index]
            pixels = train.images[index].transpose(1, 0, 2, 3)[:, brain].astype(np.float64)  # (C, P)
            count += pixels.shape[1]
            total += pixels.sum(axis=1)
            squares += np.square(pixels).sum(axis=1)
        if count == 0:
            raise DataError(
                f"zscore: the {healthy.size} healthy training slices contain no brain pixels",
                hint="check the brain masks of the training slices",
            )
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
        constant = [m for m, s in zip(train.modalities, std, strict=True) if s < _MIN_STD]
        if constant:
            raise DataError(
                f"zscore: channel(s) {', '.join(constant)} are constant over the healthy brain pixels",
                hint="check the preprocessing of those modalities",
            )
        self.mean_, self.std_ = mean, std
        self._modalities, self._healthy_slices = train.modalities, int(healthy.size)
        self._logger.info("zscore: fitted on %d healthy slices (%d brain pixels)", healthy.size, count)

    def z_map(self, slices: SliceSet) -> np.ndarray:
        """The combined, polarity-adjusted z map of ``slices``: ``(N, H, W)`` float32, 0 outside the brain.

        Raises:
            ContractError: called before :meth:`fit`, or with other modalities than at fit time.
        """
        if self.mean_ is None or self.std_ is None:
            raise ContractError("zscore: generate() called before fit()")
        if slices.modalities != self._modalities:
            raise ContractError(
                f"zscore: fitted on modalities {self._modalities}, got {slices.modalities}",
            )
        out = np.zeros((len(slices), *slices.spatial_shape), np.float32)
        mean, std = self.mean_[None, :, None, None], self.std_[None, :, None, None]
        for start in range(0, len(slices), _CHUNK):
            part = slice(start, start + _CHUNK)
            brain = slices.brain_masks[part]
            z = (slices.images[part].astype(np.float64) - mean) / std
            z *= brain[:, None]
            if self.options.smoothing_sigma > 0:
                z = _smooth_inside(z, brain, self.options.smoothing_sigma)
            if self.options.polarity == "hypo":
                z = -z
            elif self.options.polarity == "both":
                z = np.abs(z)
            out[part] = np.where(brain, z.max(axis=1), 0.0)
        return out

    def generate(self, slices: SliceSet) -> MaskSet:
        """Soft maps and binary pseudo-masks for ``slices``.

        Raises:
            ContractError: called before :meth:`fit`, or with other modalities than at fit time.
        """
        z = self.z_map(slices)
        brain = slices.brain_masks
        threshold = self.options.threshold
        soft = np.where(brain, special.expit((z - threshold) * self.options.steepness), 0.0).astype(np.float32)
        masks = _remove_small_components((z >= threshold) & brain, self.options.min_component_pixels)
        healthy = slices.labels == Label.HEALTHY
        soft[healthy] = 0.0
        masks[healthy] = False
        return MaskSet(soft=soft, masks=masks, source="zscore")

    # --- persistence ------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """The fitted statistics, options and modalities as JSON (``wsad predict`` restores them).

        Raises:
            ContractError: nothing was fitted yet.
        """
        if self.mean_ is None or self.std_ is None:
            raise ContractError("zscore: save() called before fit()")
        state = {
            "format": _FORMAT,
            "options": self.options.model_dump(mode="json"),
            "modalities": list(self._modalities),
            "mean": self.mean_.tolist(),
            "std": self.std_.tolist(),
            "healthy_slices": self._healthy_slices,
        }
        atomic_write_text(path, json.dumps(state, indent=1))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, context: BuildContext) -> ZScoreGenerator:
        """A generator ready to ``generate``, from a file written by :meth:`save`.

        Raises:
            DataError: the file is missing, unreadable or not a ``zscore`` state file.
        """
        from wsad_baselines.config import ZScoreOptions

        try:
            state = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DataError(f"{path} is not readable as a zscore state file: {error}") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise DataError(f"{path} is not a zscore state file", hint="write it with ZScoreGenerator.save()")
        generator = cls(ZScoreOptions.model_validate(state["options"]), context)
        generator.mean_ = np.asarray(state["mean"], np.float64)
        generator.std_ = np.asarray(state["std"], np.float64)
        generator._modalities = tuple(state["modalities"])
        generator._healthy_slices = int(state["healthy_slices"])
        return generator


def _smooth_inside(z: np.ndarray, brain: np.ndarray, sigma: float) -> np.ndarray:
    # Normalised convolution: blur(z * brain) / blur(brain) averages brain pixels only.
    weights = ndimage.gaussian_filter(brain.astype(np.float64), sigma=(0, sigma, sigma), mode="constant")
    blurred = ndimage.gaussian_filter(z, sigma=(0, 0, sigma, sigma), mode="constant")
    return np.divide(blurred, weights[:, None], out=np.zeros_like(blurred), where=weights[:, None] > 1e-6)


def _remove_small_components(masks: np.ndarray, min_pixels: int) -> np.ndarray:
    if min_pixels <= 1 or not masks.any():
        return masks
    labels, _ = ndimage.label(masks, structure=_PER_SLICE_8)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_pixels
    keep[0] = False
    return keep[labels]
