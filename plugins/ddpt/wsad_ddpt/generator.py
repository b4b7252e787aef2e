"""``ddpt``: DDPT pseudo-mask generator (RASALoRE stage 1, R§3).

``fit`` trains the prompts on slice labels with the core loop (:func:`wsad_core.training.train`:
checkpoint every epoch under ``context.work_dir``, resume after an interruption, progress bar with
epoch and loss, bf16 autocast only on CUDA). ``generate`` turns the last block's class-token
attention into soft maps and binary masks at the slice size.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from wsad_core import ContractError, DataError, Label, MaskSet
from wsad_core.training import autocast, derive_seed, load_weights, read_checkpoint, save_weights, train
from wsad_ddpt._clip import build_clip, check_weights_sha
from wsad_ddpt._data import EpochBatches, LabelledSlices, clip_inputs, grey
from wsad_ddpt._deviations import checkpoint_selection, ddpt_deviations
from wsad_ddpt._maps import attention_to_masks
from wsad_ddpt._objective import build_optimizer, ddpt_loss
from wsad_ddpt._text import prompt_tokens
from wsad_ddpt._weights import require
from wsad_ddpt.config import DDPTOptions
from wsad_ddpt.torch_model import DDPTNetwork

if TYPE_CHECKING:
    from wsad_core import BuildContext, Deviation, SliceSet
    from wsad_core.training import TrainingHistory

__all__ = ["DEFECT_FIXES_NOTE", "RANDOM_INIT_NOTE", "DDPTGenerator"]

#: Logged when the backbone is random; results carry it as a ``weights`` deviation.
RANDOM_INIT_NOTE = "random-init CLIP — not the published method"
#: Fixes of official-code defects: facts about the run, not departures from the method (rasalore.md §12).
DEFECT_FIXES_NOTE = (
    "official-code defects fixed: float32 attention maps instead of the uint8 round trip, and an empty "
    "mask for a map without contrast instead of NaN (a defect of the official code)"
)
_FORMAT = "wsad-ddpt.prompts/1"
_PROMPT_STREAM = 12  # derive_seed key of the prompt initialisation
_HASH_CHUNK = 64
# Options that change neither training nor the trained prompts (only how maps are made).
_MAP_ONLY = {
    "map_text", "map_normalisation", "map_threshold", "map_upsample", "healthy_slices",
    "class_guided", "mask_outside_brain", "predict_batch_size", "weights", "allow_random_init",
}  # fmt: skip


class DDPTGenerator:
    """DDPT: prompts on a frozen CLIP trained on slice labels; attention → pseudo-masks.

    Args:
        options: validated :class:`~wsad_ddpt.config.DDPTOptions`.
        context: device, seed, work directory, AMP flag, progress and logger.

    Raises:
        WeightsNotFoundError: no CLIP weights and ``allow_random_init`` is false.
        DataError: the weights file does not fit the model.
    """

    def __init__(self, options: DDPTOptions, context: BuildContext) -> None:
        self.options, self.context = options, context
        self._source = require(options)
        clip, self._weights = build_clip(options.model, self._source, quick_gelu=options.quick_gelu, seed=context.seed)
        check_weights_sha(self._weights, options.weights_sha256)
        # Facts that are not departures from the method (those are ``deviations``).
        self.notes: tuple[str, ...] = (DEFECT_FIXES_NOTE,)
        self._modality: str | None = None  # the modality the prompts were trained on, once known
        if self._source.path is None:
            context.logger.warning("ddpt: %s (no CLIP weights; allow_random_init=true)", RANDOM_INIT_NOTE)
        words = options.class_words
        tokens = prompt_tokens(options.model, words, options.template, options.n_ctx)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(context.seed, _PROMPT_STREAM))
            self.network = DDPTNetwork(
                clip,
                tokens,
                n_ctx=options.n_ctx,
                class_position=options.class_position,
                vpt_tokens=options.vpt_tokens,
                cavpt_tokens=options.cavpt_tokens,
                cavpt_dim=options.cavpt_dim,
            )
        self.network.to(context.torch_device())
        self.history: TrainingHistory | None = None
        self._fitted = False
        self._facts: dict[str, Any] = {}

    @property
    def image_size(self) -> int:
        """Input size of the CLIP image tower (224 for ViT-B/32)."""
        return int(self.network.clip.visual.image_size[0])

    @property
    def deviations(self) -> list[Deviation]:
        """How this run departs from the published DDPT: weights, backbone, settings, selection, modality."""
        return ddpt_deviations(self.options, self._weights, self._modality)

    @property
    def checkpoint_selection(self) -> str:
        """``"last epoch"`` (the official code) or the validation rule of ``selection=best-validation``."""
        return checkpoint_selection(self.options)

    @property
    def provenance(self) -> dict[str, Any]:
        """Weights, parameter counts and training facts, recorded in ``env.json``."""
        prompts = sum(p.numel() for p in self.network.prompts.parameters())
        frozen = sum(p.numel() for p in self.network.clip.parameters())
        facts = {"method": "ddpt", **self._weights, "trainable_parameters": prompts, "frozen_parameters": frozen}
        facts |= self._facts
        if self.history is not None:
            facts |= {
                "epochs": self.history.completed,
                "selected_epoch": self.history.selected_epoch,
                "final_train_loss": self.history.train_loss[-1] if self.history.train_loss else None,
                "seconds_per_epoch": self.history.seconds,
            }
        return facts

    # ----------------------------------------------------------------- training
    def fit(self, train_slices: SliceSet, *, validation: SliceSet | None = None) -> None:
        """Train the prompts on the labelled slices of ``train_slices`` (resumes from ``context.work_dir``).

        Raises:
            DataError: no healthy or no anomalous labelled slice.
        """
        o, device = self.options, self.context.torch_device()
        if o.channel < len(train_slices.modalities):  # otherwise selecting the slices below names the problem
            self._modality = train_slices.modalities[o.channel]
        data = LabelledSlices.select(train_slices, fraction=o.train_fraction, shots=o.shots, seed=self.context.seed)
        counts = data.counts()
        if not counts["healthy"] or not counts["anomalous"]:
            raise DataError(
                f"ddpt: training needs healthy and anomalous labelled slices, got {counts}",
                hint="DDPT is a healthy-vs-tumour classifier; use more cases or a dataset with both slice kinds",
            )
        held = None
        if validation is not None and len(validation):
            held = LabelledSlices.select(validation, fraction=1.0, shots=len(validation), seed=self.context.seed)
            held = held if len(held) else None
        optimizer, scheduler = build_optimizer(self.network, o)
        network = self.network

        def batches(epoch: int, generator: torch.Generator) -> EpochBatches:
            return EpochBatches(data, o, self.image_size, epoch, generator)

        def loss_fn(batch: tuple[torch.Tensor, torch.Tensor, int]) -> torch.Tensor:
            images, labels, epoch = batch
            return ddpt_loss(network, images.to(device), labels.to(device), epoch=epoch, options=o)

        checkpoint_dir = self._checkpoint_dir(data)
        self.history = train(
            model=network.prompts,
            optimizer=optimizer,
            loss_fn=loss_fn,
            batches=batches,
            epochs=o.epochs,
            context=self.context,
            checkpoint_dir=checkpoint_dir,
            scheduler=scheduler,
            validate=None if held is None or o.selection == "last" else lambda: self._validation_loss(held),
            selection=o.selection,
            description="ddpt",
        )
        self._fitted = True
        self._facts = {"train_slices": counts, "checkpoint_dir": str(checkpoint_dir)}
        if held is not None:
            self._facts["validation_slices"] = held.counts()
            self._facts["validation_accuracy"] = self._accuracy(held)
        self.save(checkpoint_dir / "prompts.pt")

    def _checkpoint_dir(self, data: LabelledSlices) -> Path:
        # Resume only into a run with the same training options, backbone, seed and slices.
        digest = hashlib.sha256()
        training = self.options.model_dump(mode="json", exclude=_MAP_ONLY)
        weights = self._weights.get("weights_sha256", "random-init")
        digest.update(json.dumps([_FORMAT, training, weights, self.context.seed]).encode())
        digest.update(data.index.astype(np.int64).tobytes() + data.labels.tobytes())
        for start in range(0, len(data), _HASH_CHUNK):
            part = data.index[start : start + _HASH_CHUNK]
            digest.update(np.ascontiguousarray(data.slices.images[part, self.options.channel]).data)
        return Path(self.context.work_dir) / f"ddpt-{digest.hexdigest()[:16]}"

    def _class_logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` classification logits ``s·f·t̂ᵀ`` with the learned prompts, queries in class order."""
        net = self.network
        text = net.learned_text() if self.options.train_text == "learned" else F.normalize(net.handcrafted, dim=-1)
        features, _, _ = net.prompted_image(images, text.unsqueeze(0).expand(images.shape[0], -1, -1))
        return (
            net.logit_scale(self.options.logit_scale)
            * F.normalize(features.float(), dim=-1)
            @ F.normalize(text.float(), dim=-1).T
        )

    def _labelled_batches(self, held: LabelledSlices):  # noqa: ANN202 - a private generator
        size = self.options.predict_batch_size
        for start in range(0, len(held), size):
            index = held.index[start : start + size]
            x = clip_inputs(grey(held.slices, index, self.options.channel, self.options.slice_minmax), self.image_size)
            yield x.to(self.context.torch_device()), torch.from_numpy(held.labels[start : start + size])

    def _validation_loss(self, held: LabelledSlices) -> float:
        total = 0.0
        for images, labels in self._labelled_batches(held):
            logits = self._class_logits(images)
            total += float(F.cross_entropy(logits.float(), labels.to(logits.device), reduction="sum"))
        return total / len(held)

    def _accuracy(self, held: LabelledSlices) -> float:
        correct = 0
        with torch.inference_mode(), autocast(self.context.device, self.context.amp):
            for images, labels in self._labelled_batches(held):
                correct += int((self._class_logits(images).argmax(-1).cpu() == labels).sum())
        return correct / len(held)

    # ----------------------------------------------------------------- maps
    def generate(self, slices: SliceSet) -> MaskSet:
        """Soft maps and binary pseudo-masks for ``slices`` at their size.

        Raises:
            ContractError: called before :meth:`fit` or :meth:`load`.
        """
        if not self._fitted:
            raise ContractError("ddpt: generate() called before fit() or load()")
        o, net = self.options, self.network
        n, size = len(slices), slices.spatial_shape
        todo = np.flatnonzero(slices.labels != Label.HEALTHY) if o.healthy_slices == "empty" else np.arange(n)
        grids = torch.zeros((n, *net.grid))
        predicted_healthy = np.zeros(n, bool)
        batches = range(0, len(todo), o.predict_batch_size)
        net.eval()
        with (
            self.context.progress.task("ddpt maps", total=len(batches)) as task,
            torch.inference_mode(),
            autocast(self.context.device, self.context.amp),
        ):
            for start in batches:
                index = todo[start : start + o.predict_batch_size]
                images = clip_inputs(grey(slices, index, o.channel, o.slice_minmax), self.image_size)
                images = images.to(self.context.torch_device())
                grids[index] = self._attention(images).float().cpu()
                if o.class_guided:
                    predicted_healthy[index] = (self._class_logits(images).argmax(-1) == 0).cpu().numpy()
                task.advance(1)
        soft, masks = attention_to_masks(
            grids, size, normalisation=o.map_normalisation, threshold=o.map_threshold, mode=o.map_upsample
        )
        skipped = np.ones(n, bool)
        skipped[todo] = False
        skipped |= predicted_healthy & (slices.labels == Label.UNKNOWN)
        soft[skipped], masks[skipped] = 0.0, False
        if o.mask_outside_brain:
            soft *= slices.brain_masks
            masks &= slices.brain_masks
        return MaskSet(soft=soft, masks=masks, source="ddpt")

    def _attention(self, images: torch.Tensor) -> torch.Tensor:
        net = self.network
        if self.options.map_text == "learned":  # L2: learned prompts of both classes, fixed order (R§3.4)
            queries = net.learned_text().unsqueeze(0).expand(images.shape[0], -1, -1)
        else:  # H2: the hand-crafted prompt of the anomalous class only
            queries = net.handcrafted[1:].unsqueeze(0).expand(images.shape[0], -1, -1)
        return net.prompted_image(images, queries, need_attention=True)[2]

    # ----------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Write the trained prompts with the options and backbone facts (``weights_only`` loadable)."""
        meta = {
            "format": _FORMAT,
            "options": self.options.model_dump(mode="json"),
            "clip_model": self.options.model,
            "clip_weights_sha256": self._weights.get("weights_sha256"),
            "seed": self.context.seed,
            "modality": self._modality,
        }
        return save_weights(path, self.network.prompts, meta)

    @classmethod
    def load(cls, path: str | Path, context: BuildContext, **overrides: Any) -> DDPTGenerator:
        """A generator ready to map, from prompts written by :meth:`save`.

        Args:
            path: the prompts file.
            context: build context (its seed only matters for a random-init backbone).
            overrides: options replacing the stored ones (e.g. ``weights``, map options).

        Raises:
            DataError: not a DDPT prompts file, or prompts trained on another CLIP than the one found.
        """
        meta = read_checkpoint(path).get("meta") or {}
        if meta.get("format") != _FORMAT:
            raise DataError(f"{path} is not a ddpt prompts file", hint="write it with DDPTGenerator.save()")
        options = DDPTOptions.model_validate({**meta["options"], **overrides})
        generator = cls(options, context)
        stored, found = meta.get("clip_weights_sha256"), generator._weights.get("weights_sha256")
        if stored is None and found is None and meta.get("seed") != context.seed:
            raise DataError(
                f"ddpt: prompts in {path} were trained on a random-init CLIP of seed {meta.get('seed')}, "
                f"this run's seed is {context.seed}",
                hint="load them with the seed they were trained with (the random backbone depends on it)",
            )
        if stored != found:
            raise DataError(
                f"ddpt: prompts in {path} were trained on CLIP weights {stored or 'random-init'}, "
                f"this run has {found or 'random-init'}",
                hint="load them with the same CLIP weights file they were trained with",
            )
        load_weights(path, generator.network.prompts, map_location=context.torch_device())
        generator._fitted = True
        generator._modality = meta.get("modality")  # absent in files written before it was stored
        return generator
