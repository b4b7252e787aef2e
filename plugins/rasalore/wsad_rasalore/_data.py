"""Stage-2 data: which slices train RASALoRE and their network-ready tensors (shared/docs/rasalore.md §6).

Per slice (steps 1-4 of §6, done once per fit; step 5, augmentation, per batch):

1. gamma image ``(v/255)^2·255`` of the chosen channel(s), ``v = x·255``;
2. the generator's mask M_DDPT must keep at least 200 pixels when resized to the native
   240² frame, else the slice is skipped; the refined mask M_SAM, when given, is optional;
3. crop to the brain box of the gamma image, **every array in its own frame** (the code
   crops 256² M_SAM masks with 240² indices, §12 #5; ``sam_crop_frame="official-240"``
   reproduces that);
4. bilinear resize: image → s², M_DDPT → s² (point labels) and 2s² (loss), M_SAM → 2s².

Only slices labelled anomalous train the network; healthy slices are never used (§6).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from wsad_core import Label, SliceSet
from wsad_core.training import minibatch_indices
from wsad_rasalore._augment import PaperAugment, augment_batch
from wsad_rasalore._frames import CropBox, brain_box, crop_resize, gamma_8bit
from wsad_rasalore.config import Geometry, RasaloreOptions
from wsad_rasalore.lore import point_labels

__all__ = ["Batch", "EpochBatches", "Prepared", "eligible_positions", "prepare_images", "prepare_training", "to_batch"]

NATIVE_SIZE = 240  # BraTS's native slice side: the frame of the official 200-pixel rule and of its crop indices
_CHUNK = 64


class Batch(NamedTuple):
    """One training batch on the CPU."""

    images: torch.Tensor  # (B, C, s, s) float32 in [0, 255]
    ddpt: torch.Tensor  # (B, 2s, 2s) float32 in {0, 1}
    sam: torch.Tensor | None  # (B, 2s, 2s) or None (no refined masks)
    labels: torch.Tensor  # (B, k) point labels from the s² M_DDPT


@dataclass(frozen=True, slots=True)
class Prepared:
    """Network-ready, not yet augmented tensors of N slices."""

    images: torch.Tensor  # (N, C, s, s), uint8 when quantised else float32
    ddpt_small: torch.Tensor  # (N, 1, s, s) bool
    ddpt_large: torch.Tensor  # (N, 1, 2s, 2s) bool
    sam_large: torch.Tensor | None  # (N, 1, 2s, 2s) bool
    positions: np.ndarray  # positions in the source SliceSet

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _resize(stack: np.ndarray, size: int) -> torch.Tensor:
    # (N, H, W) → (N, size, size) float32, bilinear and anti-aliased like PIL's BILINEAR.
    out = [
        F.interpolate(
            torch.from_numpy(np.ascontiguousarray(stack[i : i + _CHUNK], np.float32))[:, None],
            size=(size, size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )[:, 0]
        for i in range(0, len(stack), _CHUNK)
    ]
    return torch.cat(out) if out else torch.zeros(0, size, size)


def eligible_positions(slices: SliceSet, ddpt: np.ndarray, min_pixels: int) -> tuple[np.ndarray, int, int]:
    """Anomalous-labelled slices whose pseudo-mask has at least ``min_pixels`` pixels at 240² (§6 step 2).

    Returns:
        ``(positions, healthy_or_unlabelled_skipped, small_mask_skipped)``.
    """
    anomalous = np.flatnonzero(slices.labels == Label.ANOMALOUS)
    if anomalous.size == 0:
        return anomalous, len(slices), 0
    # The code counts pixels > 127.5 after a bilinear resize of the map to the native 240² frame.
    counts = (_resize(ddpt[anomalous].astype(np.float32), NATIVE_SIZE) > 0.5).flatten(1).sum(1).numpy()
    keep = anomalous[counts >= min_pixels]
    return keep, len(slices) - anomalous.size, int(anomalous.size - keep.size)


def _gamma(images: np.ndarray, options: RasaloreOptions) -> np.ndarray:
    return gamma_8bit(images, options.gamma, options.quantize_8bit)


def prepare_images(
    slices: SliceSet, channels: Sequence[int], geometry: Geometry, options: RasaloreOptions
) -> tuple[torch.Tensor, list[CropBox | None]]:
    """Gamma, crop and resize of ``channels`` for prediction: (N, C, s, s) in [0, 255] and the boxes."""
    size = geometry.input_size
    images = torch.zeros(len(slices), len(channels), size, size)
    boxes: list[CropBox | None] = []
    for i in range(len(slices)):
        gamma = _gamma(slices.images[i, list(channels)], options)
        box = brain_box(gamma[0], options.min_crop_extent)
        boxes.append(box)
        if box is not None:
            images[i] = crop_resize(torch.from_numpy(gamma), box, size, round_values=options.quantize_8bit)
    return images, boxes


def prepare_training(
    slices: SliceSet,
    positions: np.ndarray,
    channels: Sequence[int],
    ddpt: np.ndarray,
    sam: np.ndarray | None,
    geometry: Geometry,
    options: RasaloreOptions,
) -> Prepared:
    """Steps 1-4 of §6 for the slices at ``positions`` (masks are slice-frame (N_all, H, W) bool)."""
    s, out = geometry.input_size, geometry.output_size
    n = len(positions)
    images = torch.zeros(n, len(channels), s, s)
    ddpt_small = torch.zeros(n, 1, s, s, dtype=torch.bool)
    ddpt_large = torch.zeros(n, 1, out, out, dtype=torch.bool)
    sam_large = None if sam is None else torch.zeros(n, 1, out, out, dtype=torch.bool)
    official = options.sam_crop_frame == "official-240"
    for row, position in enumerate(positions):
        raw = slices.images[position, list(channels)]
        mask = torch.from_numpy(ddpt[position][None].astype(np.float32))
        if official:  # image and M_DDPT live in the native 240² frame, as the official PNGs do
            raw = _resize(raw, NATIVE_SIZE).numpy()
            mask = (_resize(mask.numpy(), NATIVE_SIZE) > 0.5).float()
        gamma = _gamma(raw, options)
        box = brain_box(gamma[0], options.min_crop_extent)
        if box is None:  # cannot happen for a slice with a lesion, but keep an all-zero sample valid
            box = CropBox(0, gamma.shape[1], 0, gamma.shape[2])
        images[row] = crop_resize(torch.from_numpy(gamma), box, s, round_values=options.quantize_8bit)
        ddpt_small[row] = crop_resize(mask, box, s, binary=True).bool()
        ddpt_large[row] = crop_resize(mask, box, out, binary=True).bool()
        if sam is not None and sam_large is not None:
            # 'own': the slice-frame box fits M_SAM; 'official-240': the 240² indices are reused
            # on the slice-frame mask unchanged (the bug of §12 #5).
            refined = torch.from_numpy(sam[position][None].astype(np.float32))
            sam_large[row] = crop_resize(refined, _clamp(box, refined.shape[1:]), out, binary=True).bool()
    stored = images.to(torch.uint8) if options.quantize_8bit else images
    return Prepared(stored, ddpt_small, ddpt_large, sam_large, np.asarray(positions))


def _clamp(box: CropBox, frame: tuple[int, ...]) -> CropBox:
    height, width = int(frame[0]), int(frame[1])
    top, left = min(box.top, height - 1), min(box.left, width - 1)
    return CropBox(top, max(min(box.bottom, height), top + 1), left, max(min(box.right, width), left + 1))


def to_batch(data: Prepared, index: torch.Tensor, grid_side: int) -> Batch:
    """An un-augmented batch of ``data`` at ``index``."""
    sam = None if data.sam_large is None else data.sam_large[index][:, 0].float()
    labels = point_labels(data.ddpt_small[index].float(), grid_side)
    return Batch(data.images[index].float(), data.ddpt_large[index][:, 0].float(), sam, labels)


class EpochBatches:
    """One epoch's batches (a sized iterable: the progress bar gets a total).

    Args:
        data: prepared slices.
        batch_size: slices per batch (the last one may be smaller, as in the code).
        generator: the epoch's generator (shuffling and augmentation).
        grid_side: ``sqrt(k)`` for the point labels.
        augment: augmentation settings, or ``None`` (validation: no shuffling either).
    """

    def __init__(
        self,
        data: Prepared,
        batch_size: int,
        generator: torch.Generator,
        grid_side: int,
        augment: PaperAugment | None,
    ) -> None:
        self._parts = minibatch_indices(len(data), batch_size, generator, shuffle=augment is not None)
        self._data, self._generator, self._side, self._augment = data, generator, grid_side, augment

    def __len__(self) -> int:
        return len(self._parts)

    def __iter__(self) -> Iterator[Batch]:
        data = self._data
        for index in self._parts:
            if self._augment is None:
                yield to_batch(data, index, self._side)
                continue
            masks = [data.ddpt_small[index].float(), data.ddpt_large[index].float()]
            if data.sam_large is not None:
                masks.append(data.sam_large[index].float())
            images, masks = augment_batch(data.images[index].float(), masks, self._generator, self._augment)
            sam = masks[2][:, 0] if len(masks) > 2 else None
            yield Batch(images, masks[1][:, 0], sam, point_labels(masks[0], self._side))
