"""PNG overlays of a few slices: image, ground truth, pseudo-mask and prediction side by side.

Figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas directly, so no
pyplot state (open figures, the global backend) is touched and nothing leaks between calls.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from wsad_core._atomic import atomic_write_bytes
from wsad_core.errors import ContractError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["choose_overlay_slices", "radiological_view", "save_overlay"]

_TRUTH_COLOUR = "#00e676"  # green
_PSEUDO_COLOUR = "#ffd600"  # yellow
_PREDICTION_COLOUR = "#00b0ff"  # light blue: visible on the inferno heat map
# 12 x 3.4 inches at 80 dpi: ~960 x 270 px, about 100 kB for 256 x 256 slices.
_FIGSIZE = (12.0, 3.4)
_DPI = 80
_MAX_BYTES = 150_000


def radiological_view(axial: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """An axial slice ``vol[:, :, k]`` turned for display: anterior at the top, patient's right on the left.

    Arrays are stored in whatever voxel order the file has (BraTS: L-P-S, MNI: R-A-S); the
    affine says which, so every dataset is shown the same way. Where the third voxel axis is
    not superior-inferior the slice is returned as it is.
    """
    import nibabel as nib

    orientation = nib.orientations.io_orientation(np.asarray(affine))
    if orientation[2, 0] != 2:
        return axial
    to_ras = nib.orientations.ornt_transform(orientation, nib.orientations.axcodes2ornt(("R", "A", "S")))
    ras = nib.orientations.apply_orientation(axial[:, :, None], to_ras)[:, :, 0]
    return ras[::-1, ::-1].T  # rows: anterior → posterior; columns: patient's right → left


def _contour(axes: Axes, mask: np.ndarray, colour: str) -> None:
    # An empty mask has no 0.5 level; matplotlib would warn.
    if mask.any():
        axes.contour(mask.astype(np.float32), levels=[0.5], colors=[colour], linewidths=1.0)


def _png_bytes(figure: Figure) -> bytes:
    from PIL import Image

    figure.canvas.draw()
    rgb = Image.fromarray(np.asarray(figure.canvas.buffer_rgba())[..., :3])
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG", optimize=True)
    if buffer.tell() > _MAX_BYTES:
        # Noisy maps defeat PNG's filters; a 256-colour palette is ~3x smaller and, for grey
        # images with one colour map, hard to tell apart.
        buffer = io.BytesIO()
        rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _check(name: str, array: np.ndarray | None, shape: tuple[int, ...]) -> None:
    if array is not None and np.shape(array) != shape:
        raise ContractError(f"save_overlay: {name} has shape {np.shape(array)}, expected {shape}")


def save_overlay(
    path: str | os.PathLike[str],
    *,
    image: np.ndarray,
    truth: np.ndarray | None,
    pseudo: np.ndarray | None,
    prediction: np.ndarray,
    threshold: float,
    title: str,
) -> None:
    """Draw one slice's four panels and write them as a PNG, atomically.

    Panels: the image; the image with the ground-truth contour; the image with the
    pseudo-mask contour; the prediction as a heat map (with colour bar), the contour of
    ``prediction >= threshold`` and the ground-truth contour.

    Args:
        path: Target ``.png``.
        image: ``(H, W)`` intensities.
        truth: ``(H, W)`` bool ground truth, or ``None`` when unknown.
        pseudo: ``(H, W)`` bool pseudo-mask, or ``None`` when the pipeline has none.
        prediction: ``(H, W)`` continuous map.
        threshold: Binarisation threshold of ``prediction``.
        title: Figure title (case, slice, method).

    Raises:
        ContractError: The arrays' shapes differ.
    """
    image = np.asarray(image, dtype=np.float32)
    shape = image.shape
    for name, array in (("truth", truth), ("pseudo", pseudo), ("prediction", prediction)):
        _check(name, array, shape)
    if image.ndim != 2:
        raise ContractError(f"save_overlay: image must be 2-D, got shape {shape}")
    prediction = np.asarray(prediction, dtype=np.float32)
    truth_mask = None if truth is None else np.asarray(truth, dtype=bool)

    figure = Figure(figsize=_FIGSIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 4)
    for ax in axes:
        ax.set_axis_off()
        ax.imshow(image, cmap="gray", interpolation="nearest")
    axes[0].set_title("image", fontsize=9)

    if truth_mask is None:
        axes[1].set_title("no ground truth", fontsize=9)
    else:
        _contour(axes[1], truth_mask, _TRUTH_COLOUR)
        axes[1].set_title(f"ground truth ({int(truth_mask.sum())} px)", fontsize=9)

    if pseudo is None:
        axes[2].set_title("no pseudo-mask", fontsize=9)
        box = {"facecolor": "black", "alpha": 0.6, "edgecolor": "none"}
        axes[2].text(
            0.5, 0.5, "no pseudo-mask", color="white", ha="center", va="center", bbox=box, transform=axes[2].transAxes
        )
    else:
        pseudo_mask = np.asarray(pseudo, dtype=bool)
        _contour(axes[2], pseudo_mask, _PSEUDO_COLOUR)
        axes[2].set_title(f"pseudo-mask ({int(pseudo_mask.sum())} px)", fontsize=9)

    low, high = float(prediction.min()), float(prediction.max())
    if low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0  # probabilities: a fixed scale makes figures comparable
    # The anatomy beneath the map: the slice in grey, the map on top, transparent where it is low.
    axes[3].imshow(image, cmap="gray", interpolation="nearest")
    span = max(high, low + 1e-6) - low
    alpha = np.clip((prediction - low) / span, 0.0, 1.0) * 0.85
    heat = axes[3].imshow(
        prediction, cmap="inferno", vmin=low, vmax=max(high, low + 1e-6), alpha=alpha, interpolation="nearest"
    )
    _contour(axes[3], prediction >= threshold, _PREDICTION_COLOUR)
    if truth_mask is not None:
        _contour(axes[3], truth_mask, _TRUTH_COLOUR)
    axes[3].set_title(f"prediction (threshold {threshold:.3g})", fontsize=9)
    figure.colorbar(heat, ax=axes[3], fraction=0.046, pad=0.02)
    handles = [
        Line2D([], [], color=_TRUTH_COLOUR, label="ground truth"),
        Line2D([], [], color=_PSEUDO_COLOUR, label="pseudo-mask"),
        Line2D([], [], color=_PREDICTION_COLOUR, label="prediction ≥ threshold"),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=10)

    atomic_write_bytes(path, _png_bytes(figure))


def choose_overlay_slices(case_ids: Sequence[str], lesion_pixels: Sequence[int] | np.ndarray, n: int) -> list[int]:
    """Pick up to ``n`` slices to draw, deterministically.

    Cases take turns in sorted order of their ids: first every case's largest-lesion slice,
    then every case's second largest, and so on. Ties go to the slice nearest the middle of
    the case's slices (a healthy case shows a central slice, not the skull cap).

    Args:
        case_ids: Volume of each slice.
        lesion_pixels: Ground-truth lesion pixels of each slice.
        n: How many slices at most.

    Returns:
        Positions into ``case_ids``.

    Raises:
        ContractError: The two sequences have different lengths.
    """
    sizes = np.asarray(lesion_pixels).reshape(-1)
    if sizes.size != len(case_ids):
        raise ContractError(f"choose_overlay_slices: {len(case_ids)} case ids but {sizes.size} lesion sizes")
    queues: dict[str, list[int]] = {}
    for position, case in enumerate(case_ids):
        queues.setdefault(str(case), []).append(position)
    for case, positions in queues.items():
        middle = (len(positions) - 1) / 2
        ranked = sorted(enumerate(positions), key=lambda item: (-float(sizes[item[1]]), abs(item[0] - middle), item[0]))
        queues[case] = [position for _, position in ranked]
    chosen: list[int] = []
    depth = max((len(q) for q in queues.values()), default=0)
    for rank in range(depth):
        for case in sorted(queues):
            if len(chosen) >= n:
                return chosen
            if rank < len(queues[case]):
                chosen.append(queues[case][rank])
    return chosen
