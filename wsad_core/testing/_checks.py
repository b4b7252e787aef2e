"""Checks of the conformance suite beyond the contract: label hiding, and learning on synthetic lesions."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from wsad_core.context import BuildContext
from wsad_core.plugins import PluginHost, with_stage_builder
from wsad_core.specs import Role
from wsad_core.testing.synthetic import ToyBatch
from wsad_core.types import Label, MaskSet, ScoreMaps, SliceSet

__all__ = ["LabelSpy", "check_learns", "crude_masks", "lesion_auroc", "maps_of", "revealed"]


def crude_masks(batch: ToyBatch) -> MaskSet:
    """What a refiner is given in the suite: the toy truth without an 8-pixel border."""
    rough = np.zeros_like(batch.test_truth)
    rough[:, 8:-8, 8:-8] = batch.test_truth[:, 8:-8, 8:-8]
    return MaskSet(rough.astype(np.float32), rough, "toy")


def revealed(slices: SliceSet, truth: np.ndarray) -> SliceSet:
    """``slices`` with their true image labels (any lesion pixel) in place of ``UNKNOWN``."""
    labels = np.where(truth.any(axis=(1, 2)), Label.ANOMALOUS, Label.HEALTHY).astype(np.int8)
    return dataclasses.replace(slices, labels=labels)


def maps_of(output: Any) -> np.ndarray:
    """The continuous maps of a generator's, refiner's or segmenter's output."""
    if isinstance(output, MaskSet):
        return output.soft
    if isinstance(output, ScoreMaps):
        return output.scores
    raise TypeError(f"not a MaskSet or ScoreMaps: {type(output).__name__}")


class LabelSpy:
    """Wraps a role object and records the labels of every :class:`SliceSet` it is given.

    Attributes:
        seen: ``(method, labels)`` for each call of ``fit``, ``generate``, ``refine`` or ``predict``
            (``fit``'s ``validation`` is recorded as ``"fit:validation"``).
    """

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped
        self.seen: list[tuple[str, np.ndarray]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)

    def _record(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for value in args:
            if isinstance(value, SliceSet):
                self.seen.append((method, value.labels.copy()))
        validation = kwargs.get("validation")
        if isinstance(validation, SliceSet):
            self.seen.append((f"{method}:validation", validation.labels.copy()))

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        self._record("fit", args, kwargs)
        return self._wrapped.fit(*args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        self._record("generate", args, kwargs)
        return self._wrapped.generate(*args, **kwargs)

    def refine(self, *args: Any, **kwargs: Any) -> Any:
        self._record("refine", args, kwargs)
        return self._wrapped.refine(*args, **kwargs)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        self._record("predict", args, kwargs)
        return self._wrapped.predict(*args, **kwargs)


def lesion_auroc(maps: np.ndarray, truth: np.ndarray, brain: np.ndarray) -> float:
    """Pixel AUROC of ``maps`` against ``truth`` inside ``brain`` (ties count half: a constant map gives 0.5)."""
    from sklearn.metrics import roc_auc_score

    scores, labels = maps[brain].astype(np.float64), truth[brain]
    if labels.all() or not labels.any():
        raise ValueError("lesion_auroc needs lesion and healthy pixels in the brain")
    return float(roc_auc_score(labels, scores))


def check_learns(
    host: PluginHost,
    role: Role,
    name: str,
    options: dict[str, Any],
    batch: ToyBatch,
    work_dir: Path,
    *,
    floor: float,
    seed: int = 0,
) -> float:
    """Train the plugin on ``batch`` with its own short training and check its test maps rank lesions.

    Args:
        host: plugins.
        role: ``generator``, ``refiner`` or ``segmenter``.
        name: the plugin.
        options: its (short) training options.
        batch: the synthetic lesion set (training slices with image labels, test slices hidden).
        work_dir: a fresh directory.
        floor: the pixel AUROC (in the brain, against the lesions) the maps must exceed; above 0.5.
        seed: the run seed.

    Returns:
        The AUROC.

    Raises:
        ValueError: ``floor`` is not above chance (0.5) or at most 1.
        AssertionError: the maps do not beat ``floor`` (a constant map scores 0.5).
    """
    if not 0.5 < floor <= 1.0:
        raise ValueError(f"a learning floor must lie in (0.5, 1]: chance is 0.5, got {floor}")
    work_dir.mkdir(parents=True, exist_ok=True)
    context = with_stage_builder(BuildContext(device="cpu", seed=seed, work_dir=work_dir), host)
    obj = host.create(role, name, options, context)
    if role == "generator":
        obj.fit(batch.train)
        output = obj.generate(batch.test)
    elif role == "refiner":
        output = obj.refine(batch.test, crude_masks(batch))
    elif role == "segmenter":
        spec = host.get("segmenter", name)
        pseudo = batch.pseudo_masks() if spec.trains_on_pseudo_masks else None  # type: ignore[attr-defined]
        obj.fit(batch.train, pseudo)
        if spec.prompted_by_pseudo_masks:  # type: ignore[attr-defined]
            output = obj.predict(batch.test, pseudo_masks=crude_masks(batch))
        else:
            output = obj.predict(batch.test)
    else:
        raise ValueError(f"no learning check for role {role!r}")
    auroc = lesion_auroc(maps_of(output), batch.test_truth, batch.test.brain_masks)
    assert auroc > floor, (
        f"{role} {name!r}: lesion-pixel AUROC {auroc:.3f} on the synthetic lesion set is not above the declared "
        f"floor {floor} (chance 0.5)"
    )
    return auroc
