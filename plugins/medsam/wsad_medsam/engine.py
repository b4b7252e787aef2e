"""Prompted MedSAM inference on a :class:`SliceSet`: shared by the refiner and both segmenters.

Per slice: derive the prompts from its pseudo-mask (the generator's binary mask, or RASALoRE's min-max
rule on its soft map; none for an empty mask, whose output stays empty),
compute the image embedding once (batched, cached by content) and answer every prompt of the slice from
it, map each answer back to the slice frame, merge prompts by their maximum, optionally min-max the
probability map (RASALoRE) and threshold it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from wsad_core import ConfigError, ContractError
from wsad_medsam._cache import EmbeddingCache
from wsad_medsam._loading import load_backend
from wsad_medsam._partial import PartialResults
from wsad_medsam._prompts import SlicePrompts, make_prompts, minmax_mask, slice_rng

if TYPE_CHECKING:
    from wsad_core import BuildContext, SliceSet
    from wsad_medsam.backends import SamBackend
    from wsad_medsam.config import MedSAMCommonOptions

__all__ = ["MedSAMEngine"]


class MedSAMEngine:
    """MedSAM prompted by pseudo-masks.

    Args:
        options: the name's options (box options always; point options when ``prompt_kind="point"``).
        context: the run's build context (device, seed, work dir, progress).
        prompt_kind: ``"box"`` or ``"point"``.
        backend: a loaded backend (tests); default: loaded from ``options``.
    """

    def __init__(
        self,
        options: MedSAMCommonOptions,
        context: BuildContext,
        *,
        prompt_kind: str,
        backend: SamBackend | None = None,
    ) -> None:
        self.options = options
        self.context = context
        self.prompt_kind = prompt_kind
        self.backend = backend if backend is not None else load_backend(options, context)
        self.cache = EmbeddingCache(options.memory_cache_items, context.work_dir, options.disk_cache_mb << 20)
        self.stats = {"slices": 0, "prompted_slices": 0, "prompts": 0, "embeddings_computed": 0}
        # What deviations depend on besides the options: slice sizes (the jitter frame) and how many
        # binary prompt masks differ from RASALoRE's min-max rule on the soft maps (``None``: not compared).
        self.shapes: set[tuple[int, int]] = set()
        self.unlike_minmax_rule: int | None = None

    def describe(self) -> dict[str, Any]:
        """Counters of the work done so far, with the cache's hits and misses."""
        return {
            **self.stats,
            "cache_hits": self.cache.hits,
            "cache_misses": self.cache.misses,
            "prompt_masks_unlike_minmax_rule": self.unlike_minmax_rule,
        }

    def _jitter_scale(self, shape: tuple[int, int]) -> tuple[float, float]:
        frame = self.options.jitter_frame  # type: ignore[attr-defined]
        return (1.0, 1.0) if frame is None else (shape[1] / frame, shape[0] / frame)

    def _prompts(self, image: np.ndarray, mask: np.ndarray) -> SlicePrompts | None:
        options = self.options
        rng = slice_rng(self.context.seed, image.tobytes() + np.packbits(mask).tobytes())
        return make_prompts(
            mask,
            kind=self.prompt_kind,
            box_from=options.box_from,  # type: ignore[attr-defined]
            max_boxes=options.max_boxes,  # type: ignore[attr-defined]
            jitter_max_px=options.jitter_max_px,  # type: ignore[attr-defined]
            num_points=getattr(options, "num_points", 10),
            point_region=getattr(options, "point_region", "box"),
            frame_bug=options.faithful_box_frame_bug,
            rng=rng,
            jitter_scale=self._jitter_scale(mask.shape),
        )

    def _embeddings(self, images: list[np.ndarray]) -> list[torch.Tensor]:
        """One ``(1, 256, 64, 64)`` embedding per grey image; cached ones are not recomputed."""
        prepared = [self.backend.prepare(image) for image in images]
        keys = [self.backend.content_key(p) for p in prepared]
        found = [self.cache.get(key) for key in keys]
        missing = [i for i, value in enumerate(found) if value is None]
        if missing:
            computed = self.backend.embed(torch.stack([prepared[i] for i in missing]))
            self.stats["embeddings_computed"] += len(missing)
            for row, i in enumerate(missing):
                found[i] = computed[row : row + 1].clone()
                self.cache.put(keys[i], found[i])
        return found  # type: ignore[return-value]

    def _answer(self, embedding: torch.Tensor, prompts: SlicePrompts, shape: tuple[int, int]) -> np.ndarray:
        """The slice-frame probability map of all prompts of one slice, merged by maximum."""
        frame = self.backend.frame(shape)
        if prompts.points is None:
            logits = self.backend.decode(embedding, frame.boxes(prompts.boxes), None)
        else:
            logits = self.backend.decode(embedding, None, frame.points(prompts.points))
        return self.backend.probabilities(logits, shape).amax(dim=0).numpy()

    def _prompt_masks(self, masks: np.ndarray, soft: np.ndarray | None) -> np.ndarray:
        """The masks prompts are derived from (``prompt_mask``), noting how they compare with RASALoRE's rule."""
        rule = self.options.prompt_mask  # type: ignore[attr-defined]
        if soft is None:
            if rule == "soft-minmax":
                raise ContractError("MedSAM prompt_mask='soft-minmax' needs the pseudo-masks' soft maps")
            return masks.astype(bool)
        if soft.shape != masks.shape:
            raise ContractError(f"MedSAM got soft maps of shape {soft.shape} for masks of shape {masks.shape}")
        official = minmax_mask(soft)
        if rule == "soft-minmax":
            return official
        differing = int((official != masks.astype(bool)).any(axis=(1, 2)).sum())
        self.unlike_minmax_rule = (self.unlike_minmax_rule or 0) + differing
        return masks.astype(bool)

    def segment(
        self, slices: SliceSet, masks: np.ndarray, soft: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Soft probabilities ``(N, H, W)`` float32 and binary masks of ``slices`` prompted by ``masks``.

        Args:
            slices: the slices to segment.
            masks: ``(N, H, W)`` binary pseudo-masks.
            soft: their soft maps (``MaskSet.soft``); needed for ``prompt_mask="soft-minmax"``.

        Raises:
            ContractError: ``masks`` does not match ``slices``, or ``soft`` is missing where it is needed.
            ConfigError: ``channel`` is not a channel of ``slices``.
        """
        n, (height, width) = len(slices), slices.spatial_shape
        if masks.shape != (n, height, width):
            raise ContractError(f"MedSAM got {masks.shape} pseudo-masks for {n} slices of {(height, width)}")
        masks = self._prompt_masks(masks, soft)
        self.shapes.add((height, width))
        channels = slices.images.shape[1]
        if self.options.channel >= channels:
            raise ConfigError(
                f"MedSAM option channel={self.options.channel} but the slices have {channels} channel(s) "
                f"({', '.join(slices.modalities)})",
                hint="set channel to the index of the modality MedSAM should see",
            )
        soft = np.zeros((n, height, width), np.float32)
        grey = slices.images[:, self.options.channel] ** np.float32(self.options.gamma)
        todo = []
        for i in range(n):
            prompts = self._prompts(grey[i], masks[i])
            if prompts is not None:  # empty pseudo-mask: empty output, no prompt
                todo.append((i, prompts))
        self.stats["slices"] += n
        self.stats["prompted_slices"] += len(todo)
        self.stats["prompts"] += sum(len(p) for _, p in todo)
        partial = PartialResults(
            self.context.work_dir,
            [
                self.backend.identity.encode(),
                self.options.model_dump_json().encode(),
                str(self.context.seed).encode(),
                np.ascontiguousarray(grey).tobytes(),
                np.packbits(masks).tobytes(),
            ],
        )
        done = partial.load(soft)
        remaining = [(i, prompts) for i, prompts in todo if not done[i]]
        batch = self.options.batch_size or (8 if self.backend.device.startswith("cuda") else 1)
        with self.context.progress.task(f"MedSAM ({self.backend.name})", total=len(todo)) as progress:
            progress.advance(len(todo) - len(remaining))  # found in the partial results of an interrupted run
            for start in range(0, len(remaining), batch):
                chunk = remaining[start : start + batch]
                embeddings = self._embeddings([grey[i] for i, _ in chunk])
                for (i, prompts), embedding in zip(chunk, embeddings, strict=True):
                    soft[i] = self._postprocess(self._answer(embedding, prompts, (height, width)))
                    done[i] = True
                partial.maybe_save(soft, done)
                progress.advance(len(chunk))
        partial.clear()
        if self.options.mask_outside_brain:
            soft *= slices.brain_masks
        return soft, soft > self.options.threshold

    def _postprocess(self, probability: np.ndarray) -> np.ndarray:
        probability = np.clip(probability, 0.0, 1.0)
        if self.options.probability_rescale == "minmax":  # RASALoRE: sigmoid -> min-max -> > 0.5
            low, high = float(probability.min()), float(probability.max())
            probability = (probability - low) / max(high - low, 1e-8)
        return probability.astype(np.float32)
