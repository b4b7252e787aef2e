"""``ame-cam``: Attentive Multiple-Exit CAM (Chen et al., MICCAI 2023), baselines.md §1, as a generator.

Fit (slice labels only): stage 0 SimCLR pre-training of a ResNet-18 with instance norm,
stage 1 a classifier with one CAM exit per stage (BCE weighted 0.25/0.5/0.75/1), stage 2
an attention network that fuses the four CAMs (classifier frozen). Generate: the mean
of the four up-sampled CAMs and the aggregated map, min-maxed per image, signed by the
polarity rule (the official code always inverts: ``1 - map``; ``auto`` checks the sign
on anomalous-labelled validation slices), up-sampled to the slice size; mask = map > 0.5.
Slices labelled healthy get empty outputs: their weak label is exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from wsad_baselines._amecam_report import amecam_deviations, stage1_rule
from wsad_baselines._amecam_train import (
    LabelledSlices,
    network_input,
    stem_channels,
    train_aggregator,
    train_classifier,
    train_simclr,
)
from wsad_baselines.torch_amecam import minmax
from wsad_core import ConfigError, ContractError, DataError, Label, MaskSet
from wsad_core.reconstruction.keys import run_key
from wsad_core.reconstruction.resize import maps_to_size, masks_to_size
from wsad_core.training import autocast

if TYPE_CHECKING:
    from wsad_baselines.config_amecam import AmeCamOptions
    from wsad_baselines.torch_amecam import AttentionAggregator, MultiExitClassifier
    from wsad_core import BuildContext, Deviation, SliceSet

__all__ = ["AmeCamGenerator"]

_FORMAT = "wsad-baselines.ame-cam/1"
_MIN_SIDE = 64  # instance norm needs more than one pixel at the last (1/32) stage
_STAGE0 = ("image_size", "width", "simclr_epochs", "simclr_batch_size", "simclr_learning_rate",
           "simclr_temperature", "simclr_normalize", "simclr_hold_epochs", "weight_decay")  # fmt: skip
_STAGE1 = ("classifier_epochs", "classifier_batch_size", "classifier_learning_rate", "exit_weights",
           "classifier_selection")  # fmt: skip
_STAGE2 = ("aggregation_epochs", "aggregation_batch_size", "aggregation_learning_rate", "rank_alpha")


class AmeCamGenerator:
    """AME-CAM pseudo-mask generator.

    Args:
        options: validated :class:`~wsad_baselines.config_amecam.AmeCamOptions`.
        context: device, seed, work directory (checkpoints), AMP flag, progress and logger.
    """

    def __init__(self, options: AmeCamOptions, context: BuildContext) -> None:
        self.options = options
        self.context = context
        self.classifier: MultiExitClassifier | None = None
        self.aggregator: AttentionAggregator | None = None
        self.polarity: str | None = None
        self._modalities: tuple[str, ...] = ()
        self._side: int | None = None  # the network input side, known after fit
        self._stage1: str | None = None  # how stage 1 chose its epoch, known after fit
        self._facts: dict[str, Any] = {}
        self._run_notes: list[str] = []

    @property
    def notes(self) -> tuple[str, ...]:
        """Facts shown with every result that are not deviations: what the map is, run facts."""
        base = (
            "AME-CAM trained from scratch on this run's training slices and slice labels; map = mean of the 4 exit "
            "CAMs and the aggregated map, min-maxed per image, then signed by the polarity rule",
        )
        if self.options.simclr_epochs > 0:  # a fix of the official code, not a departure from the method
            base += ("stage-0 weights copied into stage 1 by name (the official code copies by parameter position)",)
        return (*base, *self._run_notes)

    @property
    def deviations(self) -> list[Deviation]:
        """Every way this run departs from the paper and its code (complete after :meth:`fit`)."""
        return amecam_deviations(
            self.options,
            self.context,
            side=self._side,
            modalities=self._modalities,
            polarity=self.polarity,
            stage1=self._stage1,
        )

    @property
    def checkpoint_selection(self) -> str:
        """The epoch each stage kept: stages 0 and 2 their last (§1), stage 1 by validation AUC or its last."""
        options = self.options
        stage0 = "stage 0 last epoch" if options.simclr_epochs > 0 else "stage 0 skipped"
        stage1 = stage1_rule(options, self._stage1)
        epoch = self._facts.get("classifier_selected_epoch")
        if epoch is not None:
            stage1 += f" (epoch {epoch + 1} of {options.classifier_epochs})"
        return f"{stage0}; stage 1 {stage1}; stage 2 last epoch"

    @property
    def provenance(self) -> dict[str, Any]:
        """Training facts and the polarity decision, recorded with the run."""
        options = self.options
        postprocess = {
            "map": "mean of 4 CAMs and the aggregated map, min-max per image",
            "polarity": self.polarity,
            "mask_threshold": options.threshold,
            "mask_outside_brain": options.mask_outside_brain,
        }
        return {"method": "ame-cam", "modalities": list(self._modalities), "postprocess": postprocess, **self._facts}

    def fit(self, train: SliceSet, *, validation: SliceSet | None = None) -> None:
        """Run the three training stages (resuming each from its checkpoint) and settle the polarity.

        Raises:
            DataError: the training slices lack healthy or anomalous labels.
            ConfigError: the network input would be smaller than 64 pixels.
        """
        options, device = self.options, self.context.torch_device()
        labelled = np.flatnonzero(np.isin(train.labels, (Label.HEALTHY, Label.ANOMALOUS)))
        classes = set(train.labels[labelled].tolist())
        if classes != {Label.HEALTHY, Label.ANOMALOUS}:
            raise DataError(
                f"ame-cam: the classifier needs healthy and anomalous training slices, got labels {sorted(classes)}",
                hint="check the split: every fold needs both slice labels",
            )
        side = options.image_size or min(train.spatial_shape)
        if side < _MIN_SIDE:
            raise ConfigError(
                f"ame-cam: network input {side} px is too small (the last ResNet stage is 1/32 of it)",
                hint=f"set image_size to at least {_MIN_SIDE}",
            )
        self._run_notes, self._facts = [], {}
        data = LabelledSlices(train, labelled, options.image_size, device)
        held = self._validation_slices(validation)
        self._side = side
        if held is not None:
            self._stage1 = "best slice AUC on the validation patients"
        elif options.classifier_selection == "last":
            self._stage1 = "last epoch"
        else:
            self._stage1 = "last epoch (no validation slices with both labels)"
        in_channels = stem_channels(train.images.shape[1])
        dump = options.model_dump(mode="json")
        key0 = run_key([_FORMAT, [dump[k] for k in _STAGE0], self.context.seed], [(train, labelled)])
        key1 = run_key([key0, [dump[k] for k in _STAGE1]], [] if held is None else [(held.slices, held.index)])
        key2 = run_key([key1, [dump[k] for k in _STAGE2]], [])
        root = Path(self.context.work_dir)
        pretrained = None
        if options.simclr_epochs > 0:
            pretrained, history0 = train_simclr(self.context, options, data, in_channels, root / f"ame-cam-s0-{key0}")
            self._facts["simclr_final_loss"] = history0.train_loss[-1]
        else:
            self._run_notes.append("stage 0 (SimCLR) skipped: the classifier starts from random weights")
        self.classifier, history1 = train_classifier(
            self.context, options, data, held, in_channels, pretrained, root / f"ame-cam-s1-{key1}"
        )
        self.aggregator, history2 = train_aggregator(
            self.context, options, data, self.classifier, root / f"ame-cam-s2-{key2}"
        )
        self._modalities = train.modalities
        self._facts |= {
            "train_slices": len(data),
            "validation_slices": 0 if held is None else len(held),
            "classifier_selected_epoch": history1.selected_epoch,
            "classifier_val_auc": None if history1.best_val_loss is None else 1 - history1.best_val_loss,
            "aggregation_final_loss": history2.train_loss[-1],
            "checkpoint_keys": [key0, key1, key2],
        }
        self._settle_polarity(train, validation)

    def _validation_slices(self, validation: SliceSet | None) -> LabelledSlices | None:
        if self.options.classifier_selection == "last":
            return None
        if validation is None or not {0, 1} <= set(validation.labels.tolist()):
            return None
        index = np.flatnonzero(np.isin(validation.labels, (Label.HEALTHY, Label.ANOMALOUS)))
        return LabelledSlices(validation, index, self.options.image_size, self.context.torch_device())

    # --- maps -------------------------------------------------------------------------
    def _networks(self) -> tuple[MultiExitClassifier, AttentionAggregator]:
        if self.classifier is None or self.aggregator is None:
            raise ContractError("ame-cam: generate() called before fit()")
        return self.classifier.eval(), self.aggregator.eval()

    def _direct_maps(self, images: torch.Tensor) -> torch.Tensor:
        """Min-maxed mean of the 4 CAMs and the aggregated map, ``(B, 1, S, S)``, before the polarity."""
        classifier, aggregator = self._networks()
        _, cams = classifier.upsampled_cams(images)
        cams = cams.float()
        aggregated = aggregator(images.mean(dim=1, keepdim=True), cams)
        return minmax(torch.cat([cams, aggregated], dim=1).mean(dim=1, keepdim=True))

    def _settle_polarity(self, train: SliceSet, validation: SliceSet | None) -> None:
        rule = self.options.polarity
        if rule != "auto":
            self.polarity = rule
            return
        source, name = validation, "validation"
        if source is None or not (source.labels == Label.ANOMALOUS).any():
            source, name = train, "training"
        anomalous = source.where_label(Label.ANOMALOUS)[: self.options.polarity_check_slices]
        fill = _healthy_brain_mean(train)
        drops = {p: self._deletion_drop(source.select(anomalous), fill, p) for p in ("direct", "inverted")}
        # Ties, and checks where no deletion lowers the logit (no evidence), keep the official inversion.
        informative = max(drops.values()) > 0
        self.polarity = "direct" if informative and drops["direct"] > drops["inverted"] else "inverted"
        verdict = "chosen" if informative else "kept (inconclusive check: the official code's inversion)"
        self._facts["polarity_check"] = {"slices": f"{anomalous.size} anomalous-labelled {name} slices", **drops}
        self._run_notes.append(
            f"polarity '{self.polarity}' {verdict} on {anomalous.size} anomalous-labelled {name} slices: deleting "
            f"the flagged region lowers the classifier's tumour logit by {drops['direct']:.3f} (direct) vs "
            f"{drops['inverted']:.3f} (inverted); slice labels only"
        )

    def _deletion_drop(self, slices: SliceSet, fill: np.ndarray, polarity: str) -> float:
        """Mean drop of the classifier's final-exit logit when the flagged brain region is set to ``fill``.

        Logits rather than probabilities: a confident classifier saturates the sigmoid.
        """
        classifier, _ = self._networks()
        device, size = self.context.torch_device(), self.options.image_size
        drops = []
        with torch.inference_mode():
            for start in range(0, len(slices), self.options.predict_batch_size):
                part = slice(start, start + self.options.predict_batch_size)
                images = network_input(slices.images[part], size, device)
                brain = masks_to_size(slices.brain_masks[part], images.shape[-1], device)
                direct = self._direct_maps(images)
                signed = direct if polarity == "direct" else 1 - direct
                region = (signed > self.options.threshold) & brain
                value = torch.as_tensor(fill, dtype=images.dtype, device=device).view(1, -1, 1, 1).expand_as(images)
                deleted = torch.where(region, value, images)
                before = classifier(images)[0][:, -1].float()
                after = classifier(deleted)[0][:, -1].float()
                drops.append((before - after).cpu().numpy())
        return float(np.concatenate(drops).mean())

    def soft_maps(self, slices: SliceSet) -> np.ndarray:
        """The signed, min-maxed AME-CAM maps ``(N, H, W)`` in [0, 1] (0 outside the brain by default).

        Raises:
            ContractError: called before :meth:`fit`, or with other modalities.
        """
        self._networks()
        if slices.modalities != self._modalities:
            raise ContractError(f"ame-cam: trained on modalities {self._modalities}, got {slices.modalities}")
        device, size, step = self.context.torch_device(), self.options.image_size, self.options.predict_batch_size
        parts = []
        with torch.inference_mode():
            for start in range(0, len(slices), step):
                images = network_input(slices.images[start : start + step], size, device)
                with autocast(self.context.device, self.context.amp):
                    maps = self._direct_maps(images)
                parts.append(maps[:, 0].float().cpu().numpy())
        internal = np.concatenate(parts) if parts else np.zeros((0, *slices.spatial_shape), np.float32)
        if self.polarity == "inverted":
            internal = 1.0 - internal
        soft = np.clip(maps_to_size(internal, slices.spatial_shape), 0.0, 1.0)
        if self.options.mask_outside_brain:
            soft = np.where(slices.brain_masks, soft, 0.0)
        return soft.astype(np.float32)

    def generate(self, slices: SliceSet) -> MaskSet:
        """Soft maps and masks (soft > threshold) for ``slices``; healthy-labelled slices get empty ones.

        Raises:
            ContractError: called before :meth:`fit`, or with other modalities.
        """
        soft = self.soft_maps(slices)
        soft[slices.labels == Label.HEALTHY] = 0.0
        return MaskSet(soft=soft, masks=soft > self.options.threshold, source="ame-cam")


def _healthy_brain_mean(train: SliceSet) -> np.ndarray:
    """Per input channel of the backbone, the mean brain intensity of healthy-labelled training slices."""
    healthy = train.where_label(Label.HEALTHY)
    channels = train.images.shape[1]
    total, count = np.zeros(channels), 0
    for start in range(0, healthy.size, 64):
        index = healthy[start : start + 64]
        brain = train.brain_masks[index]
        total += train.images[index].transpose(1, 0, 2, 3)[:, brain].sum(axis=1)
        count += int(brain.sum())
    mean = total / max(count, 1)
    return np.repeat(mean, 3) if channels == 1 else mean
