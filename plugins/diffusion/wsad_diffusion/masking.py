"""Where the forward diffusion corrupts an image: pDDPM's patch grid and mDDPM's masking block.

pDDPM (Behrendt et al., MIDL 2023; spec §6.2): the image is cut into a grid of ``patch`` × ``patch``
boxes (2 × 2 at 96² with 48-pixel boxes); training noises one random box and keeps the rest as clean
context, testing noises each box in turn and stitches the predictions.

mDDPM (Iqbal et al., MLMI 2023; spec §7), applied to the clean image before noising, training only:

* **IPM** zeroes random rectangles inside the brain;
* **FPM** keeps a low- or high-pass part of the image spectrum;
* **FPM-CM** fills random rectangles with a low- or high-pass version of the slice (the official code:
  0-5 rectangles in the brain's bounding box, sides 0.09-0.18 of its row count, a centred square of
  half-width 2-10 in the shifted spectrum, re-masked by the brain).
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["Masking", "fpm", "fpm_cm", "grid_boxes", "ipm", "mask_batch", "rectangles"]

Masking = Literal["ipm", "fpm", "fpm-cm"]
Box = tuple[int, int, int, int]  # top, bottom, left, right (exclusive ends)


def grid_boxes(size: int, patch: int) -> list[Box]:
    """The boxes of a ``patch``-pixel grid over a ``size``² image, row by row (the last row/column may be smaller)."""
    starts = range(0, size, patch)
    return [(r, min(r + patch, size), c, min(c + patch, size)) for r in starts for c in starts]


def _brain_box(brain: torch.Tensor) -> Box | None:
    rows = torch.nonzero(brain.any(dim=1)).flatten()
    cols = torch.nonzero(brain.any(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def rectangles(
    brain: torch.Tensor,
    generator: torch.Generator,
    *,
    most: int = 5,
    side: tuple[float, float] = (0.09, 0.18),
) -> torch.Tensor:
    """A bool ``(H, W)`` union of 0..``most`` random rectangles in the brain's bounding box.

    Sides are drawn in ``side`` × the box's row count (official mDDPM code).
    """
    mask = torch.zeros(brain.shape, dtype=torch.bool)
    box = _brain_box(brain)
    if box is None:
        return mask
    top, bottom, left, right = box
    extent = bottom - top
    count = int(torch.randint(0, most + 1, (1,), generator=generator))
    for _ in range(count):
        fraction = side[0] + (side[1] - side[0]) * float(torch.rand(1, generator=generator))
        length = max(1, round(fraction * extent))
        r = top + int(torch.randint(0, max(1, bottom - top - length + 1), (1,), generator=generator))
        c = left + int(torch.randint(0, max(1, right - left - length + 1), (1,), generator=generator))
        mask[r : r + length, c : c + length] = True
    return mask


def _filtered(image: torch.Tensor, half_width: int, low_pass: bool) -> torch.Tensor:
    """``image`` (H, W) keeping (low-pass) or removing (high-pass) a centred square of its shifted spectrum."""
    spectrum = torch.fft.fftshift(torch.fft.fft2(image))
    height, width = image.shape
    keep = torch.zeros(image.shape, dtype=torch.bool)
    keep[height // 2 - half_width : height // 2 + half_width, width // 2 - half_width : width // 2 + half_width] = True
    if not low_pass:
        keep = ~keep
    return torch.fft.ifft2(torch.fft.ifftshift(spectrum * keep)).real


def ipm(image: torch.Tensor, brain: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Image patch masking: random rectangles of the brain set to 0."""
    return image * ~(rectangles(brain, generator) & brain)


def fpm(image: torch.Tensor, brain: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Frequency patch masking: a low- or high-pass version of the image, inside the brain."""
    half_width = int(torch.randint(2, 11, (1,), generator=generator))
    low_pass = bool(torch.rand(1, generator=generator) < 0.5)
    return _filtered(image, half_width, low_pass) * brain


def fpm_cm(image: torch.Tensor, brain: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Frequency patch masking with context: rectangles filled with a filtered slice, the rest kept."""
    region = rectangles(brain, generator) & brain
    if not bool(region.any()):
        return image
    return torch.where(region, fpm(image, brain, generator), image)


_MASKINGS = {"ipm": ipm, "fpm": fpm, "fpm-cm": fpm_cm}


def mask_batch(images: torch.Tensor, brain: torch.Tensor, kind: Masking, generator: torch.Generator) -> torch.Tensor:
    """The mDDPM masking of ``images`` ``(B, C, H, W)`` with brains ``(B, 1, H, W)``, per sample and channel (CPU)."""
    function = _MASKINGS[kind]
    out = images.detach().cpu().clone()
    masks = brain.detach().cpu() > 0.5
    for b in range(out.shape[0]):
        for c in range(out.shape[1]):
            out[b, c] = function(out[b, c], masks[b, 0], generator)
    return out.to(images.device)
