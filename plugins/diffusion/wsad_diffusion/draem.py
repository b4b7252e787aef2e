"""DRAEM's synthetic anomalies (Zavrtanik et al., ICCV 2021) as SADM's stage-II training data (baselines.md §6.4).

The generator of SADM's code is anomalib's port of DRAEM; per slice (§6.4, SADM appendix C):

1. **Perlin noise** at the next power of two of the slice size with lattice scales 2^a x 2^b, a, b drawn
   uniformly from 0..6, cropped to the slice and **rotated** by U(-90°, 90°) (bilinear, 0 outside);
2. the **mask** is ``noise > 0.5``, here cut to the brain (the port does not restrict it: §6.4);
3. the **anomaly source** is the noise itself (no texture images), passed through **3 distinct augmenters**
   drawn in random order from the pool of 10 (:data:`AUGMENTERS`);
4. the **blend** ``x (1 - m) + γ aug m + (1 - γ) x m`` with the opacity γ ~ U(0.2, 1).

A slice whose mask misses the brain is dropped (``DraemBatch.kept`` is ``False`` for it).

The augmenters are written for grey images in [0, 1], from the definitions of the imgaug / PIL operations
the port calls; where those act on 3-channel uint8 colour images the grey version is stated with each one.
``hue_saturation`` is a no-op here: a grey image has no hue and zero saturation (in the port, adding
saturation to the repeated grey channels and keeping the first channel darkens it by a hue-dependent
amount, an artefact of running a colour augmenter on grey data). It stays in the pool so that the other
nine are drawn as often as in the port. The port also casts the noise, negative values included, to uint8
(wrapping them around); here the source is the noise clipped to [0, 1].

Every random choice comes from a ``numpy.random.Generator`` (``draem_batch`` derives one from the training
loop's ``torch.Generator``), so a seed fixes the anomalies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

__all__ = [
    "AUGMENTERS",
    "OPACITY",
    "PERLIN_SCALES",
    "DraemBatch",
    "DraemSample",
    "augment",
    "blend",
    "draem_batch",
    "draem_sample",
    "perlin_from_gradients",
    "perlin_noise",
]

#: Exponents of the lattice scales 2^a x 2^b (the port's min/max perlin scale 0 and 6).
PERLIN_SCALES = (0, 6)
#: Range of the opacity γ of the blend (the port's ``beta=(0.2, 1.0)``; SADM appendix C).
OPACITY = (0.2, 1.0)
#: Threshold of the noise that makes the mask (the port's ``perlin_noise > 0.5``).
_MASK_LEVEL = 0.5
#: Rotation of the noise in degrees (the port's ``iaa.Affine(rotate=(-90, 90))``).
_NOISE_ROTATION = 90.0


# --- Perlin noise ------------------------------------------------------------------------------------------
def _fade(t: np.ndarray) -> np.ndarray:
    # Perlin's quintic 6t^5 - 15t^4 + 10t^3: zero first and second derivatives at the lattice points.
    return t * t * t * (t * (t * 6 - 15) + 10)


def perlin_from_gradients(shape: tuple[int, int], gradients: np.ndarray) -> np.ndarray:
    """2-D gradient noise of ``shape`` from unit ``gradients`` ``(rows + 1, cols + 1, 2)`` at the lattice points.

    The lattice has ``rows x cols`` cells, each ``shape[0] / rows`` x ``shape[1] / cols`` pixels (exact
    divisions). Pixel ``(i, j)`` sits at lattice coordinate ``(i rows / H, j cols / W)``; its value is the
    fade-weighted interpolation of the four corner gradients dotted with the offsets to their corners,
    times √2 (as in the port), so it lies in [-1, 1] and is 0 on every lattice point.

    Raises:
        ValueError: the lattice does not divide ``shape``.
    """
    height, width = shape
    rows, cols = gradients.shape[0] - 1, gradients.shape[1] - 1
    if rows < 1 or cols < 1 or height % rows or width % cols:
        raise ValueError(f"a {rows}x{cols} lattice does not divide a {height}x{width} image")
    y = np.arange(height) * (rows / height)
    x = np.arange(width) * (cols / width)
    yi, xi = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = (y - yi)[:, None], (x - xi)[None, :]

    def corner(dy: int, dx: int) -> np.ndarray:
        grad = gradients[yi + dy][:, xi + dx]  # (H, W, 2)
        return grad[..., 0] * (fy - dy) + grad[..., 1] * (fx - dx)

    ty, tx = _fade(fy), _fade(fx)
    top = corner(0, 0) + ty * (corner(1, 0) - corner(0, 0))
    bottom = corner(0, 1) + ty * (corner(1, 1) - corner(0, 1))
    return math.sqrt(2.0) * (top + tx * (bottom - top))


def perlin_noise(shape: tuple[int, int], res: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Perlin noise of ``shape`` on a ``res`` lattice, gradient angles uniform on [0, 2π) from ``rng``."""
    angles = 2.0 * math.pi * rng.random((res[0] + 1, res[1] + 1))
    return perlin_from_gradients(shape, np.stack((np.cos(angles), np.sin(angles)), axis=-1))


def _next_pow2(value: int) -> int:
    return 1 << max(0, math.ceil(math.log2(value)))


def _noise_and_mask(shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The rotated Perlin noise of one slice and its mask ``noise > 0.5`` (not yet cut to the brain)."""
    low, high = PERLIN_SCALES
    res = (2 ** int(rng.integers(low, high + 1)), 2 ** int(rng.integers(low, high + 1)))
    # Drawn at the next power of two (every scale divides it) and cropped, as in the port; at least 2^6 so
    # that the finest scale fits slices smaller than 64 px (tests).
    side = (max(_next_pow2(shape[0]), 2**high), max(_next_pow2(shape[1]), 2**high))
    noise = perlin_noise(side, res, rng)[: shape[0], : shape[1]]
    angle = float(rng.uniform(-_NOISE_ROTATION, _NOISE_ROTATION))
    noise = ndimage.rotate(noise, angle, reshape=False, order=1, mode="constant", cval=0.0)
    return noise, noise > _MASK_LEVEL


# --- augmenters on grey [0, 1] images ------------------------------------------------------------------------
def _levels(image: np.ndarray) -> np.ndarray:
    # The uint8 grey levels the PIL operations work on (the port scales the noise by 255 and truncates).
    return np.floor(np.clip(image, 0.0, 1.0) * 255.0).astype(np.int64)


def _gamma(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma, imgaug ``GammaContrast((0.5, 2.0))``: ``x ** γ``, γ ~ U(0.5, 2)."""
    return np.clip(image, 0.0, 1.0) ** rng.uniform(0.5, 2.0)


def _brightness(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, imgaug ``MultiplyAndAddToBrightness(mul=(0.8, 1.2), add=(-30, 30))``, on the grey level.

    The port changes the brightness channel of a random colour space (Y, V, L, ...); for grey input that
    channel is the intensity (up to Lab/Luv's non-linear L).
    """
    return np.clip(image * rng.uniform(0.8, 1.2) + rng.uniform(-30.0, 30.0) / 255.0, 0.0, 1.0)


_SMOOTH = np.array([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0  # PIL's ImageFilter.SMOOTH


def _sharpness(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PIL ``ImageEnhance.Sharpness`` with a factor ~ U(0, 2) (imgaug ``pillike.EnhanceSharpness``).

    ``smooth + factor (image - smooth)`` where ``smooth`` is the image under PIL's SMOOTH kernel with the
    border pixels kept: factor 0 blurs, 1 keeps, 2 sharpens.
    """
    smooth = image.copy()
    smooth[1:-1, 1:-1] = ndimage.correlate(image, _SMOOTH, mode="nearest")[1:-1, 1:-1]
    return np.clip(smooth + rng.uniform(0.0, 2.0) * (image - smooth), 0.0, 1.0)


def _hue_saturation(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hue/saturation, imgaug ``AddToHueAndSaturation((-50, 50))``: a no-op on grey (no hue, zero saturation)."""
    del rng
    return image


def _solarize(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Solarize, imgaug ``Solarize(0.5, threshold=(32, 128))``: with p 0.5 invert levels >= t ~ U(32, 128)."""
    apply, threshold = rng.random() < 0.5, rng.uniform(32.0, 128.0) / 255.0
    return np.where(image >= threshold, 1.0 - image, image) if apply else image


def _posterize(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Posterize, imgaug ``Posterize()``: keep the top b ~ {1..8} bits of each uint8 level."""
    bits = int(rng.integers(1, 9))
    mask = (0xFF << (8 - bits)) & 0xFF
    return (_levels(image) & mask) / 255.0


def _invert(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Invert, imgaug ``Invert()`` (always applied): ``1 - x``."""
    del rng
    return 1.0 - image


def _autocontrast(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PIL ``ImageOps.autocontrast`` with a cutoff ~ {0..20} % (imgaug ``pillike.Autocontrast``).

    Drops ``cutoff`` % of the pixels at each end of the histogram, then maps the remaining range of levels
    linearly onto 0..255 (unchanged when it is a single level).
    """
    cutoff = int(rng.integers(0, 21))
    levels = _levels(image)
    histogram = np.bincount(levels.ravel(), minlength=256)
    cut = levels.size * cutoff // 100
    low = int(np.searchsorted(np.cumsum(histogram), cut, side="right"))
    high = 255 - int(np.searchsorted(np.cumsum(histogram[::-1]), cut, side="right"))
    if high <= low:
        return levels / 255.0
    scale = 255.0 / (high - low)
    lut = np.clip(np.floor((np.arange(256) - low) * scale), 0, 255)
    return lut[levels] / 255.0


def _equalize(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PIL ``ImageOps.equalize`` (imgaug ``pillike.Equalize``): histogram equalisation of the uint8 levels."""
    del rng
    levels = _levels(image)
    histogram = np.bincount(levels.ravel(), minlength=256)
    used = histogram[histogram > 0]
    step = (int(used.sum()) - int(used[-1])) // 255 if used.size else 0
    if step == 0:  # PIL leaves images with one dominant level unchanged
        return levels / 255.0
    # PIL's lookup table: the running count before each level, offset by half a step, in steps.
    before = np.concatenate(([0], np.cumsum(histogram)[:-1]))
    lut = np.minimum((before + step // 2) // step, 255)
    return lut[levels] / 255.0


def _affine(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Affine, imgaug ``Affine(rotate=(-45, 45))``: rotation about the centre, bilinear, 0 outside."""
    angle = float(rng.uniform(-45.0, 45.0))
    return np.clip(ndimage.rotate(image, angle, reshape=False, order=1, mode="constant", cval=0.0), 0.0, 1.0)


Augmenter = Callable[[np.ndarray, np.random.Generator], np.ndarray]

#: The port's pool of 10, in its order; three distinct ones are applied per anomaly.
AUGMENTERS: dict[str, Augmenter] = {
    "gamma": _gamma,
    "brightness": _brightness,
    "sharpness": _sharpness,
    "hue_saturation": _hue_saturation,
    "solarize": _solarize,
    "posterize": _posterize,
    "invert": _invert,
    "autocontrast": _autocontrast,
    "equalize": _equalize,
    "affine": _affine,
}


def augment(image: np.ndarray, names: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """``image`` (grey, [0, 1]) through the augmenters ``names`` in order; the result stays in [0, 1]."""
    out = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    for name in names:
        out = AUGMENTERS[name](out, rng)
    return out


def blend(image: np.ndarray, mask: np.ndarray, source: np.ndarray, opacity: float) -> np.ndarray:
    """``x (1 - m) + γ aug m + (1 - γ) x m`` (§6.4): inside the mask, γ of the source over 1 - γ of the image."""
    m = mask.astype(image.dtype)
    return image * (1.0 - m) + opacity * source * m + (1.0 - opacity) * image * m


# --- one slice, one batch ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DraemSample:
    """One synthetic anomaly.

    Attributes:
        image: the blended slice ``(C, H, W)``.
        mask: the anomaly ``(H, W)`` bool, inside the brain (empty: the slice is dropped).
        source: the augmented noise ``(H, W)`` blended into the slice.
        opacity: γ.
        augmenters: the three augmenters, in the order applied.
    """

    image: np.ndarray
    mask: np.ndarray
    source: np.ndarray
    opacity: float
    augmenters: tuple[str, ...]


def draem_sample(image: np.ndarray, brain: np.ndarray, rng: np.random.Generator) -> DraemSample:
    """A DRAEM anomaly in ``image`` ``(C, H, W)`` (every channel gets the same source), cut to ``brain`` ``(H, W)``."""
    shape = (int(image.shape[-2]), int(image.shape[-1]))
    noise, mask = _noise_and_mask(shape, rng)
    names = tuple(np.asarray(list(AUGMENTERS))[rng.choice(len(AUGMENTERS), 3, replace=False)].tolist())
    source = augment(noise, names, rng)
    opacity = float(rng.uniform(*OPACITY))
    mask = mask & brain.astype(bool)
    blended = blend(image.astype(np.float64), mask[None], source[None], opacity)
    return DraemSample(blended.astype(image.dtype), mask, source, opacity, names)


@dataclass(frozen=True, slots=True)
class DraemBatch:
    """A batch with DRAEM anomalies.

    Attributes:
        images: ``(B, C, H, W)`` blended slices (unchanged where not kept).
        masks: ``(B, 1, H, W)`` float anomaly masks (0 where not kept).
        kept: ``(B,)`` bool: the anomaly overlaps the brain; the others are to be dropped.
    """

    images: torch.Tensor
    masks: torch.Tensor
    kept: torch.Tensor


def draem_batch(images: torch.Tensor, brain: torch.Tensor, generator: torch.Generator) -> DraemBatch:
    """DRAEM anomalies for ``images`` ``(B, C, H, W)`` in ``brain`` ``(B, 1, H, W)``, seeded by ``generator``.

    One draw from ``generator`` seeds a numpy generator for the whole batch, so a training epoch's
    anomalies depend on its seed only.
    """
    rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))
    pixels = images.detach().cpu().numpy()
    regions = brain.detach().cpu().numpy()[:, 0] > 0.5
    out, masks = pixels.copy(), np.zeros((len(pixels), 1, *pixels.shape[-2:]), np.float32)
    for b in range(len(pixels)):
        sample = draem_sample(pixels[b], regions[b], rng)
        out[b], masks[b, 0] = sample.image, sample.mask
    kept = torch.from_numpy(masks.reshape(len(masks), -1).any(axis=1))
    return DraemBatch(torch.from_numpy(out).to(images.device), torch.from_numpy(masks).to(images.device), kept)
