"""``sadm`` and ``sadm_res``: supervised anomaly detection with diffusion models (Behrendt et al., MIDL 2024).

Two stages (baselines.md §6.4):

* **Stage I** — a reconstruction segmenter trained on the healthy training slices, then frozen. Published:
  cDDPM (``cddpm``); any registered unsupervised segmenter that exposes its reconstructions (a
  :class:`~wsad_core.Reconstructor`: ``ae``, ``dae``, ``ddpm``, ``pddpm``, ``mddpm``, ``cddpm``) can stand in
  (a ``substitute`` deviation). It is built through the core (``BuildContext.stage``) and trains in its own
  work directory ``work_dir/stage-NAME``, where an interrupted run resumes it.
* **Stage II** — the U-Net of :mod:`wsad_diffusion.siamese` trained with BCE on (slice, stage-I
  reconstruction, anomaly mask) triples: *self-supervised*, DRAEM anomalies (:mod:`wsad_diffusion.draem`)
  drawn afresh on the healthy training slices every step and reconstructed by stage I; or *weakly
  supervised*, all labelled training slices with the run's pseudo-masks (the anomalous slices' generator
  masks, empty masks on the healthy ones) — the published weakly supervised variant trains on ground truth
  of ~10 % of BraTS21 instead, which every result row says.

Score (§6.4): ``β · median₃((1 - SSIM(x, x̂)) · brain) + (1 - β) · sigmoid(UNet) · brain`` at the method's
size (the SSIM over each volume's slice stack, Gaussian σ 1, 9 taps), resized to the slices, 0 outside the
brain. Both parts lie in [0, 1] except that SSIM can be negative (structure anti-correlated with the
reconstruction), so the map lies in [0, 1 + β]: it is declared an unbounded ``score`` (thresholds come from
the evaluator's rules, as the paper's best-Dice search on validation volumes), not a probability.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from wsad_core import (
    ContractError,
    DataError,
    Deviation,
    Label,
    Reconstructor,
    ScoreMaps,
    SliceSet,
    as_deviations,
    setting_deviations,
)
from wsad_core.reconstruction import (
    HEALTHY_COHORT,
    LazyBatches,
    batch_to_size,
    by_volume,
    input_normalisation,
    maps_to_size,
    masks_to_size,
    median_3d,
    modality_deviation,
    run_key,
    seeded_global_rng,
    seeded_init,
)
from wsad_core.training import WEIGHTS_FORMAT, autocast, derive_seed, read_checkpoint, save_checkpoint, train
from wsad_diffusion.config_sadm import SADM_SETTING_FIELDS, SADMOptions
from wsad_diffusion.draem import draem_batch
from wsad_diffusion.siamese import SiameseUNet, widths
from wsad_diffusion.ssim import ssim_map

__all__ = ["SADMResSegmenter", "SADMSegmenter"]

_INIT_STREAM, _TRAIN_STREAM, _VAL_STREAM = 1, 2, 21
_CHUNK = 64  # slices resized at a time (memory-mapped caches are never loaded whole)
_PUBLISHED_MODALITIES = ("t1",)  # §6.4: T1 in the paper and the configs
_PREDICTION_FIELDS = frozenset({"beta", "ssim_sigma", "ssim_volume", "median_size", "predict_batch_size"})
#: Stage-I deviations that do not concern SADM: its own map post-processing, and facts SADM reports itself.
_STAGE1_UNUSED = frozenset({"erosion_iterations", "median_size", "input normalisation"})

#: (slices, reconstructions, targets) of one stage-II step, at the method's size.
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _resized(slices: SliceSet, size: int, device: torch.device) -> SliceSet:
    """``slices`` at ``size``² (images bilinear, brain masks kept where >= half), same labels and ids."""
    images = np.zeros((len(slices), slices.images.shape[1], size, size), np.float32)
    brain = np.zeros((len(slices), size, size), bool)
    for start in range(0, len(slices), _CHUNK):
        part = slice(start, start + _CHUNK)
        images[part] = batch_to_size(slices.images[part], size, device).cpu().numpy()
        brain[part] = masks_to_size(slices.brain_masks[part], size, device)[:, 0].cpu().numpy()
    return SliceSet(images, brain, slices.labels.copy(), slices.case_ids, slices.slice_indices, slices.modalities)


def _epoch_order(case_ids: Sequence[str], sampling: str, generator: torch.Generator) -> torch.Tensor:
    """One epoch's positions: one random slice per volume (published, §6.1), or all slices, shuffled."""
    if sampling == "all-slices":
        return torch.randperm(len(case_ids), generator=generator)
    volumes: dict[str, list[int]] = defaultdict(list)
    for position, case in enumerate(case_ids):
        volumes[case].append(position)
    picks = [
        members[int(torch.randint(0, len(members), (1,), generator=generator))]
        for _, members in sorted(volumes.items())
    ]
    return torch.tensor(picks)[torch.randperm(len(picks), generator=generator)]


@dataclass(frozen=True, slots=True)
class _Triples:
    """Fixed stage-II examples at the method's size: weakly supervised training data, or validation data."""

    images: np.ndarray  # (N, C, S, S)
    reconstructions: np.ndarray  # (N, C, S, S), stage I's
    masks: np.ndarray  # (N, 1, S, S) float targets
    case_ids: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def batch(self, positions: torch.Tensor | np.ndarray, device: torch.device) -> Batch:
        chosen = np.asarray(positions, dtype=np.int64)
        return (
            torch.from_numpy(self.images[chosen]).to(device),
            torch.from_numpy(self.reconstructions[chosen]).to(device),
            torch.from_numpy(self.masks[chosen]).to(device),
        )


class SADMSegmenter:
    """``sadm``: stage I reconstructs, stage II segments the input alone; SSIM and U-Net maps are combined.

    Args:
        options: validated :class:`~wsad_diffusion.config_sadm.SADMOptions`.
        context: device, seed, work directory, progress, logger, and ``build_stage`` for stage I.
    """

    method: ClassVar[str] = "sadm"
    format: ClassVar[str] = "wsad-diffusion.sadm/1"
    #: ``sadm_res``: stage II also encodes the residual to the reconstruction.
    residual: ClassVar[bool] = False

    def __init__(self, options: SADMOptions, context: Any) -> None:
        self.options = options
        self.context = context
        self.stage1: Any = None  # a Reconstructor, trained (fit) or restored (load)
        self.model: SiameseUNet | None = None
        self.history: Any = None
        self.validated: bool | None = None  # whether validation data selected the checkpoint; None before fit
        self.stage2_data: str | None = None  # "draem" or "pseudo-masks" once fitted
        self._modalities: tuple[str, ...] = ()
        self._facts: dict[str, Any] = {}

    # --- what the results say ----------------------------------------------------------------
    @property
    def notes(self) -> tuple[str, ...]:
        """The score as computed, and the stages."""
        options = self.options
        unet = "SiameseUNet_res(x - x_hat, x)" if self.residual else "UNet(x)"
        window = "3-D over each volume" if options.ssim_volume else "2-D per slice"
        notes = [
            f"{self.method} score = {options.beta:g} * median{options.median_size}^3((1 - SSIM(x, x_hat)) * brain) "
            f"+ {1 - options.beta:g} * sigmoid({unet}) * brain (SSIM sigma {options.ssim_sigma:g}, {window}), "
            "no erosion, no connected-component filter; an unbounded score map (SSIM can be negative)",
            f"stage I = {options.reconstruction} (frozen after training on the healthy training slices)",
        ]
        if options.beta == 0.5:
            notes.append("beta 0.5 = the paper's Eq. 3 (unweighted sum) halved: the same ranking and best Dice")
        if self.stage2_data is not None:
            what = "DRAEM anomalies on healthy slices" if self.stage2_data == "draem" else "the run's pseudo-masks"
            notes.append(f"stage II trained on {what}")
        notes += [f"stage I: {note}" for note in getattr(self.stage1, "notes", ()) or ()]
        return tuple(notes)

    @property
    def deviations(self) -> list[Deviation]:
        """Every way this run departs from the paper (read after ``fit``; before it, from the options alone)."""
        options = self.options
        found = setting_deviations(options, SADM_SETTING_FIELDS)
        if options.reconstruction != "cddpm":
            found.append(Deviation(kind="substitute", what="stage I", used=options.reconstruction, published="cddpm"))
        # Stage I's own departures (sizes, its checkpoint rule), except the data, modality and normalisation facts
        # said below, and the post-processing of its own maps (erosion, median), which SADM does not use.
        for deviation in as_deviations(getattr(self.stage1, "deviations", None)):
            if deviation.kind not in ("data", "modality") and deviation.what not in _STAGE1_UNUSED:
                found.append(
                    Deviation(
                        kind=deviation.kind,
                        what=f"stage I {deviation.what}",
                        used=deviation.used,
                        published=deviation.published,
                    )
                )
        found.append(HEALTHY_COHORT)
        found += modality_deviation(self._modalities, _PUBLISHED_MODALITIES)
        if self.stage2_data == "pseudo-masks":
            found.append(
                Deviation(
                    kind="data",
                    what="stage-II supervision",
                    used="generator pseudo-masks of the training patients' anomalous slices (not ground truth) "
                    "with empty masks on their healthy slices",
                    published="ground-truth masks of ~10 % of BraTS21 (volumes 10-99 of the validation list)",
                )
            )
        elif self.stage2_data == "draem":
            found.append(
                Deviation(
                    kind="data",
                    what="stage-II anomalies",
                    used="DRAEM on the training patients' healthy slices, masks cut to the brain",
                    published="DRAEM on IXI",
                )
            )
            found.append(
                Deviation(
                    kind="default",
                    what="DRAEM augmenters",
                    used="grey re-implementation (hue/saturation a no-op, noise clipped to [0, 1])",
                    published="imgaug on the 3-channel uint8 Perlin noise (anomalib port)",
                )
            )
        found += [
            input_normalisation(self.context, published="per volume, 1-99 % of the brain rescaled to [0, 1]"),
            Deviation(
                kind="default",
                what="stage-II reconstructions",
                used="stage I's test-time reconstruction of each (augmented) slice, one per slice",
                published="a cDDPM reconstruction from a random t per training step, and at test the U-Net "
                "averaged over the reconstructions from t 250/500/750",
            ),
            Deviation(
                kind="default",
                what="training augmentation",
                used="none",
                published="random blur, bias field, gamma and ghosting (torchio)",
            ),
        ]
        if self.validated is False or options.selection == "last":
            used = "last epoch" + (" (no validation data)" if self.validated is False else "")
            found.append(
                Deviation(kind="selection", what="stage-II checkpoint", used=used, published="lowest validation loss")
            )
        return found

    @property
    def checkpoint_selection(self) -> str:
        """Stage II's rule (lowest validation BCE or last epoch), and stage I's."""
        if self.validated is not False and self.options.selection == "best-validation":
            rule = "stage II: lowest BCE on validation slices"
        else:
            rule = "stage II: last epoch"
        if self.history is not None:
            rule += self.history.kept()
        inner = getattr(self.stage1, "checkpoint_selection", None)
        return rule if inner is None else f"{rule}; stage I: {inner}"

    @property
    def provenance(self) -> dict[str, Any]:
        """Training facts recorded with the run (stage I's nested)."""
        facts: dict[str, Any] = {"method": self.method, "modalities": list(self._modalities), **self._facts}
        facts["postprocess"] = {name: getattr(self.options, name) for name in sorted(_PREDICTION_FIELDS)}
        if self.history is not None:
            facts |= {
                "epochs": self.history.completed,
                "selected_epoch": self.history.selected_epoch,
                "final_train_loss": self.history.train_loss[-1],
                "best_val_loss": self.history.best_val_loss,
                "seconds_per_epoch": self.history.seconds,
            }
        inner = getattr(self.stage1, "provenance", None)
        if inner:
            facts["stage1"] = dict(inner)
        return facts

    # --- stages -------------------------------------------------------------------------------
    def _build(self, in_channels: int) -> SiameseUNet:
        return SiameseUNet(in_channels, widths(self.options.base_channels, self.options.depth), residual=self.residual)

    def _stage1(self, train_slices: SliceSet, validation: SliceSet | None) -> Any:
        """Stage I, built through the core and trained on the healthy slices (resumes from its work dir)."""
        options = self.options
        stage1 = self.context.stage("segmenter", options.reconstruction, options.reconstruction_options)
        if not isinstance(stage1, Reconstructor):
            raise ContractError(
                f"{self.method}: stage I {options.reconstruction!r} exposes no reconstructions (reconstruct_slices)",
                hint="choose an unsupervised reconstruction segmenter: ae, dae, ddpm, pddpm, mddpm or cddpm",
            )
        stage1.fit(train_slices, None, validation=validation)  # type: ignore[attr-defined]
        return stage1

    def _reconstruct(self, slices: SliceSet) -> np.ndarray:
        """Stage I's reconstructions ``(N, C, S, S)`` of slices already at the method's size."""
        return np.ascontiguousarray(self.stage1.reconstruct_slices(slices), dtype=np.float32)

    def _mode(self, pseudo_masks: Any) -> str:
        wanted = self.options.stage2_data
        if wanted == "auto":
            return "draem" if pseudo_masks is None else "pseudo-masks"
        if wanted == "pseudo-masks" and pseudo_masks is None:
            raise ContractError(
                f"{self.method}: stage2_data='pseudo-masks' but the run gives no pseudo-masks",
                hint="add --generator NAME (weakly supervised), or set stage2_data to auto or draem",
            )
        return wanted

    # --- training -----------------------------------------------------------------------------
    def fit(
        self,
        train_slices: SliceSet,
        pseudo_masks: Any = None,
        *,
        validation: SliceSet | None = None,
        validation_masks: Any = None,
    ) -> None:
        """Train stage I on the healthy slices, then stage II on DRAEM anomalies or on ``pseudo_masks``.

        Raises:
            ContractError: stage I exposes no reconstructions, or pseudo-masks are required but absent.
            DataError: no slice to train on.
        """
        options = self.options
        mode = self._mode(pseudo_masks)
        self._facts = {}
        self.stage1 = self._stage1(train_slices, validation)
        self._modalities = train_slices.modalities
        if mode == "draem":
            pool, index = self._healthy_pool(train_slices, what="training")
            held = self._draem_validation(validation)
            batches = self._draem_batches(pool)
        else:
            index = np.flatnonzero(np.isin(train_slices.labels, (Label.HEALTHY, Label.ANOMALOUS)))
            if index.size == 0:
                raise DataError(f"{self.method}: no labelled training slice for stage II")
            triples = self._triples(train_slices, pseudo_masks.masks, index)
            held = self._mask_validation(validation, validation_masks)
            batches = self._triple_batches(triples)
            self._facts["stage2_anomalous_slices"] = int(triples.masks.reshape(len(triples), -1).any(axis=1).sum())
        self.validated = held is not None
        model = seeded_init(self.context, _INIT_STREAM, lambda: self._build(train_slices.images.shape[1]))
        selection = options.selection if held is not None else "last"
        validate = None if held is None or selection != "best-validation" else self._validation_loss(model, held)
        checkpoint_dir = self._checkpoint_dir(mode, [(train_slices, index)], held, pseudo_masks)
        with seeded_global_rng(self.context, _TRAIN_STREAM):
            self.history = train(
                model=model,
                optimizer=torch.optim.Adam(model.parameters(), lr=options.learning_rate),
                loss_fn=self.loss,
                batches=batches,
                epochs=options.epochs,
                context=self.context,
                checkpoint_dir=checkpoint_dir,
                validate=validate,
                selection=selection,
                description=self.method,
            )
        self.model, self.stage2_data = model, mode
        self._facts |= {
            "stage2_data": mode,
            "stage2_train_slices": len(index),
            "stage2_validation_slices": 0 if held is None else len(held),
            "image_size": options.image_size,
            "checkpoint_dir": str(checkpoint_dir),
        }

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """BCE between the U-Net's logits and the anomaly masks (mean over pixels, as the official code)."""
        images, reconstructions, masks = batch
        return F.binary_cross_entropy_with_logits(model(images, reconstructions).float(), masks)

    def _healthy_pool(self, slices: SliceSet, *, what: str) -> tuple[SliceSet, np.ndarray]:
        """The healthy-labelled slices with brain (DRAEM needs brain to put an anomaly in), at the method's size."""
        index = np.flatnonzero((slices.labels == Label.HEALTHY) & slices.brain_masks.any(axis=(1, 2)))
        if index.size == 0 and what == "training":
            raise DataError(
                f"{self.method}: none of the {len(slices)} training slices is labelled healthy and holds brain",
                hint="self-supervised SADM puts DRAEM anomalies into healthy slices; check the split and labels",
            )
        size, device = self.options.image_size, self.context.torch_device()
        return _resized(slices.select(index), size, device), index

    def _with_images(self, source: SliceSet, images: torch.Tensor, brain: torch.Tensor) -> SliceSet:
        """``source``'s ids with new images: stage I's test noise is seeded by case and slice index."""
        return SliceSet(
            np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32),
            brain.detach().cpu().numpy()[:, 0] > 0.5,
            np.full(len(source), Label.UNKNOWN, np.int8),
            source.case_ids,
            source.slice_indices,
            source.modalities,
        )

    def _draem_examples(self, pool: SliceSet, positions: np.ndarray, generator: torch.Generator) -> Batch:
        """DRAEM anomalies in ``pool[positions]``, those that miss the brain dropped, with stage I's reconstructions."""
        device = self.context.torch_device()
        chosen = pool.select(positions)
        images = torch.from_numpy(chosen.images).to(device)
        brain = torch.from_numpy(chosen.brain_masks[:, None].astype(np.float32)).to(device)
        made = draem_batch(images, brain, generator)
        keep = made.kept.numpy()
        if keep.any():
            kept = made.kept.to(device)
            anomalous, masks, brain = made.images[kept], made.masks[kept], brain[kept]
            chosen = chosen.select(np.flatnonzero(keep))
        else:
            # No anomaly reached the brain in any slice of the batch: train on them as they are (empty masks),
            # which still teaches "nothing here" rather than skipping the step.
            anomalous, masks = images, torch.zeros_like(brain)
        reconstructions = self._reconstruct(self._with_images(chosen, anomalous, brain))
        return anomalous, torch.from_numpy(reconstructions).to(device), masks

    def _draem_batches(self, pool: SliceSet) -> Callable[[int, torch.Generator], LazyBatches[Batch]]:
        """Each epoch's batches: fresh anomalies drawn from the epoch's generator, reconstructed by stage I."""
        options = self.options

        def batches(epoch: int, generator: torch.Generator) -> LazyBatches[Batch]:
            del epoch
            order = _epoch_order(pool.case_ids, options.epoch_sampling, generator)
            parts = list(order.split(options.batch_size))
            return LazyBatches(parts, lambda positions: self._draem_examples(pool, positions.numpy(), generator))

        return batches

    def _triples(self, slices: SliceSet, masks: np.ndarray, index: np.ndarray) -> _Triples:
        """``slices[index]`` at the method's size with their masks (empty on healthy slices) and reconstructions."""
        size, device = self.options.image_size, self.context.torch_device()
        chosen = _resized(slices.select(index), size, device)
        targets = np.zeros((len(index), 1, size, size), np.float32)
        for start in range(0, len(index), _CHUNK):
            part = index[start : start + _CHUNK]
            resized = masks_to_size(np.ascontiguousarray(masks[part]), size, device)[:, 0].cpu().numpy()
            targets[start : start + len(part), 0] = resized
        targets[chosen.labels == Label.HEALTHY] = 0.0  # a healthy label says there is no lesion
        hidden = chosen.with_labels_hidden()
        return _Triples(chosen.images, self._reconstruct(hidden), targets, chosen.case_ids)

    def _triple_batches(self, triples: _Triples) -> Callable[[int, torch.Generator], LazyBatches[Batch]]:
        """Each epoch's batches of the fixed weakly supervised examples."""
        options, device = self.options, self.context.torch_device()

        def batches(epoch: int, generator: torch.Generator) -> LazyBatches[Batch]:
            del epoch
            order = _epoch_order(triples.case_ids, options.epoch_sampling, generator)
            parts = list(order.split(options.batch_size))
            return LazyBatches(parts, lambda positions: triples.batch(positions, device))

        return batches

    def _validation_subset(self, count: int) -> np.ndarray:
        """At most 4 batches of validation positions, fixed by the seed (the validation loss is a selection aid)."""
        generator = torch.Generator().manual_seed(derive_seed(self.context.seed, _VAL_STREAM))
        return np.sort(torch.randperm(count, generator=generator)[: 4 * self.options.batch_size].numpy())

    def _draem_validation(self, validation: SliceSet | None) -> _Triples | None:
        """DRAEM anomalies on (up to 4 batches of) the healthy validation slices, drawn once with a fixed seed."""
        if validation is None:
            return None
        pool, _ = self._healthy_pool(validation, what="validation")
        if len(pool) == 0:
            return None
        pool = pool.select(self._validation_subset(len(pool)))
        generator = torch.Generator().manual_seed(derive_seed(self.context.seed, _VAL_STREAM, 1))
        images, reconstructions, masks, ids = [], [], [], []
        for start in range(0, len(pool), self.options.batch_size):
            positions = np.arange(start, min(start + self.options.batch_size, len(pool)))
            batch = self._draem_examples(pool, positions, generator)
            images.append(batch[0].cpu().numpy())
            reconstructions.append(batch[1].cpu().numpy())
            masks.append(batch[2].cpu().numpy())
            ids += ["validation"] * len(batch[0])
        return _Triples(np.concatenate(images), np.concatenate(reconstructions), np.concatenate(masks), tuple(ids))

    def _mask_validation(self, validation: SliceSet | None, masks: Any) -> _Triples | None:
        """(Up to 4 batches of) the labelled validation slices with their pseudo-masks, when both are given."""
        if validation is None or masks is None:
            return None
        index = np.flatnonzero(np.isin(validation.labels, (Label.HEALTHY, Label.ANOMALOUS)))
        if index.size == 0:
            return None
        return self._triples(validation, masks.masks, index[self._validation_subset(index.size)])

    def _validation_loss(self, model: torch.nn.Module, held: _Triples) -> Callable[[], float]:
        device, step = self.context.torch_device(), self.options.batch_size

        def validate() -> float:
            total = 0.0
            with torch.no_grad():
                for start in range(0, len(held), step):
                    positions = np.arange(start, min(start + step, len(held)))
                    total += float(self.loss(model, held.batch(positions, device))) * len(positions)
            return total / len(held)

        return validate

    def _checkpoint_dir(
        self, mode: str, parts: list[tuple[SliceSet, np.ndarray]], held: _Triples | None, pseudo_masks: Any
    ) -> Path:
        # Resume only into a run of the same options (stage I's included), seed, data and targets.
        training = self.options.model_dump(mode="json", exclude=set(_PREDICTION_FIELDS))
        digest = hashlib.sha256()
        if mode == "pseudo-masks":
            digest.update(np.packbits(pseudo_masks.masks).tobytes())
        if held is not None:
            digest.update(held.images.tobytes())
            digest.update(held.masks.tobytes())
        header = [self.format, training, self.context.seed, mode, digest.hexdigest()]
        return Path(self.context.work_dir) / f"{self.method}-{run_key(header, parts)}"

    # --- prediction ---------------------------------------------------------------------------
    def predict(self, slices: SliceSet) -> ScoreMaps:
        """``β`` SSIM part + ``(1 - β)`` U-Net probabilities, ``(N, H, W)`` (``kind="score"``), 0 outside the brain.

        Raises:
            ContractError: called before :meth:`fit` / ``load``, or with other modalities.
        """
        model = self._fitted(slices)
        options, device = self.options, self.context.torch_device()
        resized = _resized(slices, options.image_size, device)
        reconstructions = self._reconstruct(resized.with_labels_hidden())
        segmentation = np.zeros((len(slices), options.image_size, options.image_size), np.float32)
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(slices), options.predict_batch_size):
                part = slice(start, start + options.predict_batch_size)
                images = torch.from_numpy(resized.images[part]).to(device)
                recon = torch.from_numpy(reconstructions[part]).to(device)
                with autocast(self.context.device, self.context.amp):
                    logits = model(images, recon)
                segmentation[part] = torch.sigmoid(logits.float())[:, 0].cpu().numpy()
        brain = resized.brain_masks
        unsupervised = self._dissimilarity(resized, reconstructions)
        combined = (options.beta * unsupervised + (1.0 - options.beta) * segmentation) * brain
        maps = maps_to_size(combined.astype(np.float32), slices.spatial_shape)
        return ScoreMaps(np.where(slices.brain_masks, maps, 0.0).astype(np.float32), kind="score")

    def _dissimilarity(self, slices: SliceSet, reconstructions: np.ndarray) -> np.ndarray:
        """``median₃((1 - SSIM) · brain)``: SSIM per volume stack (or slice), channel mean, median per volume."""
        options = self.options
        similarity = np.zeros(slices.images.shape[0:1] + slices.images.shape[2:], np.float64)
        channels = slices.images.shape[1]
        groups = (
            list(by_volume(slices.case_ids, slices.slice_indices))
            if options.ssim_volume
            else [np.array([i]) for i in range(len(slices))]
        )
        for positions in groups:
            for c in range(channels):
                first, second = slices.images[positions, c], reconstructions[positions, c]
                axes = None if options.ssim_volume else (1, 2)
                similarity[positions] += ssim_map(first, second, sigma=options.ssim_sigma, axes=axes) / channels
        part = ((1.0 - similarity) * slices.brain_masks).astype(np.float32)
        return median_3d(part, slices.case_ids, slices.slice_indices, options.median_size)

    def _fitted(self, slices: SliceSet) -> SiameseUNet:
        if self.model is None or self.stage1 is None:
            raise ContractError(f"{self.method}: predict() called before fit() or load()")
        if slices.modalities != self._modalities:
            raise ContractError(f"{self.method}: trained on modalities {self._modalities}, got {slices.modalities}")
        return self.model

    # --- persistence (wsad predict, wsad export) -----------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Both stages in one file: stage II's weights and stage I's own saved file, as bytes.

        Raises:
            ContractError: nothing was trained yet, or stage I cannot save itself.
        """
        if self.model is None or self.stage1 is None:
            raise ContractError(f"{self.method}: save() called before fit()")
        save_stage1 = getattr(self.stage1, "save", None)
        if not callable(save_stage1):
            raise ContractError(f"{self.method}: stage I {self.options.reconstruction!r} has no save(path)")
        with tempfile.TemporaryDirectory() as folder:
            written = Path(save_stage1(Path(folder) / "stage1.state"))
            stage1 = torch.frombuffer(bytearray(written.read_bytes()), dtype=torch.uint8)
        facts = {k: v for k, v in self._facts.items() if isinstance(v, str | int | float | bool | None)}
        meta = {
            "format": self.format,
            "options": self.options.model_dump(mode="json"),
            "modalities": list(self._modalities),
            "validated": self.validated,
            "stage2_data": self.stage2_data,
            "facts": facts,
        }
        meta = json.loads(json.dumps(meta))  # plain data, as save_weights keeps it
        payload = {"format": WEIGHTS_FORMAT, "state_dict": self.model.state_dict(), "meta": meta, "stage1": stage1}
        return save_checkpoint(path, payload)

    @classmethod
    def load(cls, path: str | Path, context: Any) -> SADMSegmenter:
        """Both stages from a file :meth:`save` wrote; stage I is restored by its own plugin's loader.

        Raises:
            DataError: the file is missing, unreadable, or not this method's.
        """
        payload = read_checkpoint(path, map_location="cpu")
        meta = payload.get("meta") or {}
        if meta.get("format") != cls.format or not isinstance(payload.get("stage1"), torch.Tensor):
            raise DataError(f"{path} is not a {cls.method} file", hint=f"write it with {cls.__name__}.save()")
        segmenter = cls(SADMOptions.model_validate(meta["options"]), context)
        stage1_file = Path(context.work_dir) / "stage1.state"
        stage1_file.parent.mkdir(parents=True, exist_ok=True)
        stage1_file.write_bytes(payload["stage1"].numpy().tobytes())
        options = segmenter.options
        segmenter.stage1 = context.stage(
            "segmenter", options.reconstruction, options.reconstruction_options, state=stage1_file
        )
        segmenter._modalities = tuple(meta["modalities"])
        segmenter.validated = meta.get("validated")
        segmenter.stage2_data = meta.get("stage2_data")
        segmenter._facts = dict(meta.get("facts") or {})
        model = segmenter._build(len(segmenter._modalities))
        try:
            model.load_state_dict(payload["state_dict"])
        except RuntimeError as error:
            raise DataError(f"stage-II weights in {path} do not fit {cls.method}'s options: {error}") from error
        segmenter.model = model.to(context.torch_device())
        return segmenter


class SADMResSegmenter(SADMSegmenter):
    """``sadm_res``: stage II encodes the residual ``x - x̂`` and the input with one shared encoder."""

    method = "sadm_res"
    format = "wsad-diffusion.sadm_res/1"
    residual = True
