"""``rasalore``: the RASALoRE segmenter (Sharma et al., BMVC 2025) trained on pseudo-masks.

``fit`` trains on the anomalous training slices with the generator's masks (M_DDPT) and,
when a refiner ran, its masks (M_SAM, ``pseudo_masks`` with the generator's in
``upstream``); never on ground truth (``selection="gt-val"`` only hands the core the maps
of the validation slices to score, as the official best-epoch rule needs). ``predict``
crops each slice to its brain box, runs the network at s² and maps the 2s² probabilities
back into the slice frame. The
multimodality variant first trains the bridge model, then one RASA per modality with the
alignment loss (§11). See README.md for the defaults and the official code's defects.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from wsad_core import ConfigError, ContractError, DataError, ScoreMaps
from wsad_core.training import autocast, derive_seed, load_weights, mean_slice_dice, read_checkpoint, save_weights
from wsad_rasalore import _report
from wsad_rasalore._data import NATIVE_SIZE, eligible_positions, prepare_images, prepare_training
from wsad_rasalore._frames import uncrop
from wsad_rasalore._inputs import MaskPair, hold_out_slices, model_modalities, require_channels, split_masks
from wsad_rasalore._keys import checkpoint_key
from wsad_rasalore._training import StagePlan, run_stage
from wsad_rasalore.config import RasaloreOptions
from wsad_rasalore.lore import lore_embedding, lore_sha256
from wsad_rasalore.torch_model import RasaloreNet, parameter_counts

if TYPE_CHECKING:
    from wsad_core import BuildContext, Deviation, MaskSet, SliceSet
    from wsad_core.training import TrainingHistory
    from wsad_rasalore._data import Prepared

__all__ = ["RasaloreSegmenter", "build_network"]

_FORMAT = "wsad-rasalore/1"
# The validation slices a learning curve predicts, with their pseudo-masks when the pipeline has them.
_CurveSlices = tuple["SliceSet", "MaskPair | None"]
_INIT_STREAM, _LORE_STREAM = 1, 2  # derive_seed keys of the weight initialisation and the default LoRE seed


class RasaloreSegmenter:
    """RASALoRE segmenter.

    Args:
        options: validated :class:`~wsad_rasalore.config.RasaloreOptions`.
        context: device, seed, work directory (checkpoints), AMP flag, progress and logger.
    """

    def __init__(self, options: RasaloreOptions, context: BuildContext) -> None:
        self.options, self.context = options, context
        self.geometry = options.geometry()
        self.net: RasaloreNet | None = None
        self.histories: dict[str, TrainingHistory] = {}
        self.modalities: tuple[str, ...] = ()  # RASA modalities, bridge first
        self.lore_seeds: dict[str, int] = {}
        self._facts: dict[str, Any] = {}

    # --- reporting --------------------------------------------------------------------
    @property
    def deviations(self) -> list[Deviation]:
        """Every known way this run departs from the published method (printed on every result row)."""
        return _report.deviations(self.options, self.modalities, self._facts, self.context.preprocessing)

    @property
    def checkpoint_selection(self) -> str:
        """How the kept weights were chosen (``selection`` option)."""
        return _report.checkpoint_selection(self.options)

    @property
    def notes(self) -> tuple[str, ...]:
        """Facts shown beside every result that are not deviations (fixes of the official code, LoRE draw)."""
        bridge = self.modalities[0] if self.modalities else None
        seed = self.lore_seeds.get(bridge) if bridge is not None else self.options.lore_seed
        return _report.notes(self.options, self.modalities, self.context.preprocessing, seed)

    @property
    def provenance(self) -> dict[str, Any]:
        """Architecture, LoRE seeds and hashes, data counts and training history."""
        facts: dict[str, Any] = {"method": "rasalore", "geometry": self.geometry.describe(), **self._facts}
        if self.net is not None:
            facts["lore"] = self._lore_facts(self.net)
        for name, history in self.histories.items():
            record = {
                "epochs": history.completed,
                "selected_epoch": history.selected_epoch,
                "train_loss": history.train_loss,
                "val_loss": history.val_loss,
                "learning_rate": history.learning_rate,
                "resumed_at": history.resumed_at,
            }
            if self.options.selection == "gt-val":  # the loop's "validation loss" is 1 - Dice there
                record["validation_dice"] = [1.0 - value for value in history.val_loss]
            facts[f"history_{name}"] = record
        return facts

    def _lore_facts(self, net: RasaloreNet) -> dict[str, dict[str, Any]]:
        # The table as drawn from its seed: the network's own copy equals it unless the no-LoRE
        # ablation trained it, and load() checks the regenerated draw before loading the weights.
        return {m: {"seed": self.lore_seeds[m], "sha256": lore_sha256(self._lore_table(m))} for m in net.modalities}

    # --- model ------------------------------------------------------------------------
    def _lore_seed(self, modality: str) -> int:
        base = self.options.lore_seed
        if base is None:
            base = derive_seed(self.context.seed, _LORE_STREAM) % 2**31
        index = self.modalities.index(modality)
        return int(base) if index == 0 else derive_seed(int(base), index) % 2**31

    def _lore_table(self, modality: str) -> torch.Tensor:
        geometry = self.geometry
        return lore_embedding(
            geometry.num_points, geometry.embed_dim, self.lore_seeds[modality], self.options.lore_variant
        )

    def _build(self, modalities: tuple[str, ...]) -> RasaloreNet:
        lore = {m: self._lore_table(m) for m in modalities}
        # A private CPU stream: the initialisation depends on the seed only, not on what ran before.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.context.seed, _INIT_STREAM, len(modalities)))
            net = build_network(self.options, lore)
        return net.to(self.context.torch_device())

    # --- training ---------------------------------------------------------------------
    def fit(
        self,
        train_slices: SliceSet,
        pseudo_masks: MaskSet | None,
        *,
        validation: SliceSet | None = None,
        validation_masks: MaskSet | None = None,
    ) -> None:
        """Train on the anomalous slices' pseudo-masks, resuming from ``context.work_dir`` when possible.

        With ``selection="gt-val"`` the maps of ``validation`` (what :meth:`predict` returns for
        them) are scored after every epoch by ``context.validation_dice``, and the weights of the
        best epoch are kept (ties: the earlier epoch).

        Raises:
            ContractError: no pseudo-masks, or masks that do not match the slices.
            ConfigError: a requested modality is missing; 'val-loss' selection without validation slices;
                'gt-val' selection without validation slices or without ``context.validation_dice``.
            DataError: no training slice is left after the §6 rules.
        """
        options = self.options
        if pseudo_masks is None:
            raise ContractError("rasalore: fit() needs pseudo-masks (the segmenter declares needs_pseudo_masks=True)")
        if options.selection == "gt-val":
            _check_gt_val(options, self.context, validation)
        self.modalities = model_modalities(options, train_slices.modalities)
        self.lore_seeds = {m: self._lore_seed(m) for m in self.modalities}
        channels = require_channels(self.modalities, train_slices.modalities)
        masks = split_masks(pseudo_masks, train_slices, options.use_refined_masks, "training")
        positions, healthy, small = eligible_positions(train_slices, masks.ddpt, options.min_pseudo_mask_pixels)
        held_out: Prepared | None = None
        if options.validation_source == "training-slices":
            positions, held = hold_out_slices(positions, options.validation_fraction, self.context.seed)
            held_out = prepare_training(train_slices, held, channels, masks.ddpt, masks.sam, self.geometry, options)
        elif validation is not None and validation_masks is not None and options.selection == "val-loss":
            pair = split_masks(validation_masks, validation, options.use_refined_masks, "validation")
            held, _, _ = eligible_positions(validation, pair.ddpt, options.min_pseudo_mask_pixels)
            vchannels = require_channels(self.modalities, validation.modalities)
            held_out = prepare_training(validation, held, vchannels, pair.ddpt, pair.sam, self.geometry, options)
        if positions.size == 0:
            raise DataError(
                f"rasalore: no training slice left ({len(train_slices)} slices: {healthy} not labelled anomalous, "
                f"{small} with pseudo-masks under {options.min_pseudo_mask_pixels} px at 240²)",
                hint="check the generator's masks, or lower -o segmenter.min_pseudo_mask_pixels",
            )
        if options.selection == "val-loss" and (held_out is None or len(held_out) == 0):
            raise ConfigError(
                "rasalore: selection 'val-loss' needs validation slices with pseudo-masks",
                hint="configure validation patients, use -o segmenter.validation_source=training-slices, or "
                "selection=last",
            )
        data = prepare_training(train_slices, positions, channels, masks.ddpt, masks.sam, self.geometry, options)
        self._facts = {
            "modalities": list(self.modalities),
            "pseudo_mask_source": masks.source,
            "refined_masks": masks.sam is not None,
            "train_slices": len(data),
            "skipped_not_anomalous": healthy,
            "skipped_small_pseudo_mask": small,
            "validation_slices": 0 if held_out is None else len(held_out),
            "validation_source": options.validation_source,
            "selection": options.selection,
        }
        scored = None
        if options.selection == "gt-val" and validation is not None:
            require_channels(self.modalities, validation.modalities)
            scored = validation
            self._facts["validation_slices"] = len(validation)
        curve: _CurveSlices | None = None
        if self.context.learning_curve is not None and validation is not None and len(validation):
            require_channels(self.modalities, validation.modalities)
            pair = None
            if validation_masks is not None:
                pair = split_masks(validation_masks, validation, options.use_refined_masks, "validation")
            curve = (validation, pair)
        self._train(data, held_out, scored, curve)

    def _train(
        self, data: Prepared, held_out: Prepared | None, scored: SliceSet | None, curve: _CurveSlices | None
    ) -> None:
        options, context = self.options, self.context
        bridge = self.modalities[0]
        net = self._build((bridge,))
        key = checkpoint_key(_FORMAT, options, context.seed, self.lore_seeds, data, held_out, scored)
        root = Path(context.work_dir) / f"rasalore-{key}"
        root.mkdir(parents=True, exist_ok=True)
        # The LoRE tables are buffers inside every checkpoint; their seeds and hashes sit beside them.
        lore = {m: {"seed": self.lore_seeds[m], "sha256": lore_sha256(self._lore_table(m))} for m in self.modalities}
        (root / "lore.json").write_text(json.dumps(lore, indent=2, sort_keys=True) + "\n")
        label = "rasalore" if len(self.modalities) == 1 else f"rasalore bridge {bridge}"
        plan = StagePlan((bridge,), None, 0, options.epochs, label)
        dice = None if scored is None else self._validation_dice(scored, bridge)
        monitor = self._monitor(net, bridge, curve)
        self.histories = {
            "bridge": run_stage(
                net, data, held_out, plan, options, self.geometry, context, root / "bridge", dice, monitor
            )
        }
        if len(self.modalities) > 1:
            target = copy.deepcopy(net).eval().requires_grad_(False)
            full = self._build(self.modalities)
            missing, unexpected = full.load_state_dict(net.state_dict(), strict=False)
            if unexpected or any(not k.startswith("rasa.") and not k.startswith("lore_") for k in missing):
                raise ContractError(
                    f"rasalore: bridge weights do not fit the multimodal network: {missing} {unexpected}"
                )
            if options.freeze_bridge_rasa:
                full.rasa[bridge].requires_grad_(False)
            epochs = options.multimodal_epochs or options.epochs
            plan = StagePlan(self.modalities, target, 0, epochs, "rasalore multimodal")
            dice = None if scored is None else self._validation_dice(scored, self._predict_modality())
            monitor = self._monitor(full, self._predict_modality(), curve)
            self.histories["multimodal"] = run_stage(
                full, data, held_out, plan, options, self.geometry, context, root / "multimodal", dice, monitor
            )
            net = full
        self.net = net
        counts = parameter_counts(net)
        self._facts |= {
            "checkpoint_dir": str(root),
            "parameters": counts["total"],
            "parameters_at_inference": parameter_counts(net, (self._predict_modality(),))["total"],
            "parameter_breakdown": counts,
        }

    # --- inference --------------------------------------------------------------------
    def _predict_modality(self) -> str:
        return self.options.predict_modality or self.modalities[0]

    def predict(self, slices: SliceSet) -> ScoreMaps:
        """Probabilities ``(N, H, W)`` in the slices' own frame (0 outside each brain box).

        Raises:
            ContractError: called before :meth:`fit` or :meth:`load`.
            ConfigError: the slices lack the predicting modality.
        """
        if self.net is None:
            raise ContractError("rasalore: predict() called before fit() or load()")
        return self._maps(self.net, slices, self._predict_modality())

    def _validation_dice(self, validation: SliceSet, modality: str) -> Callable[[RasaloreNet], float]:
        """``net -> Dice`` of ``net``'s maps of ``validation`` against their ground truth (by the core)."""
        score = self.context.validation_dice
        if score is None:  # checked in fit(); kept for the type checker
            raise ConfigError("rasalore: selection 'gt-val' needs context.validation_dice")

        def dice(net: RasaloreNet) -> float:
            return float(score(self._maps(net, validation, modality)))

        return dice

    def _monitor(
        self, net: RasaloreNet, modality: str, curve: _CurveSlices | None
    ) -> Callable[[int], dict[str, float]] | None:
        """Per-epoch learning-curve values: Dice of the validation maps against the validation pseudo-masks.

        Only slices whose pseudo-mask RASALoRE would train on count (the §6 rule of 200 pixels at
        240², scaled by area). The maps also go to ``context.learning_curve``, which scores them
        against ground truth for the report and returns nothing (no label reaches the plugin or
        the selection).
        """
        report = self.context.learning_curve
        if report is None or curve is None:
            return None
        validation, pair = curve
        side = validation.spatial_shape[-1]
        minimum = self.options.min_pseudo_mask_pixels * side * side / NATIVE_SIZE**2

        def monitor(epoch: int) -> dict[str, float]:
            maps = self._maps(net, validation, modality)
            values: dict[str, float] = {}
            if pair is not None:
                values["dice_generator_masks"] = mean_slice_dice(maps.scores, pair.ddpt, minimum)
                if pair.sam is not None:
                    values["dice_refined_masks"] = mean_slice_dice(maps.scores, pair.sam, minimum)
            report(epoch, maps, values)
            return values

        return monitor

    def _maps(self, net: RasaloreNet, slices: SliceSet, modality: str) -> ScoreMaps:
        """What :meth:`predict` returns for ``slices`` when ``net`` predicts from ``modality``."""
        channel = require_channels((modality,), slices.modalities)
        device, net = self.context.torch_device(), net.eval()
        maps = np.zeros((len(slices), *slices.spatial_shape), np.float32)
        step = self.options.predict_batch_size
        with torch.inference_mode():
            # Chunk by chunk, so that memory stays bounded by the batch, not by the number of slices.
            for start in range(0, len(slices), step):
                part = slices.select(slice(start, start + step))
                images, boxes = prepare_images(part, channel, self.geometry, self.options)
                images = images.to(device)
                if self.options.channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                with autocast(self.context.device, self.context.amp):
                    logits = net(images, modality).logits
                probs = torch.sigmoid(logits.float())[:, 0].cpu()
                maps[start : start + step] = uncrop(probs, boxes, slices.spatial_shape)
        if self.options.mask_outside_brain:
            maps *= slices.brain_masks
        return ScoreMaps(np.ascontiguousarray(maps, np.float32), "probability")

    # --- persistence ------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Weights, LoRE (buffers), options, modalities and LoRE seeds + sha256 (``weights_only`` loadable).

        Raises:
            ContractError: nothing was trained yet.
        """
        if self.net is None:
            raise ContractError("rasalore: save() called before fit()")
        meta = {
            "format": _FORMAT,
            "options": self.options.model_dump(mode="json"),
            "modalities": list(self.modalities),
            "lore": self._lore_facts(self.net),
            "facts": {k: v for k, v in self._facts.items() if k != "parameter_breakdown"},
        }
        return save_weights(path, self.net, meta)

    @classmethod
    def load(cls, path: str | Path, context: BuildContext) -> RasaloreSegmenter:
        """A segmenter ready to predict, from a file written by :meth:`save`.

        Raises:
            DataError: not a rasalore weights file, or its LoRE does not match the stored seeds.
        """
        meta = read_checkpoint(path).get("meta") or {}
        if meta.get("format") != _FORMAT:
            raise DataError(f"{path} is not a rasalore weights file", hint="write it with RasaloreSegmenter.save()")
        segmenter = cls(RasaloreOptions.model_validate(meta["options"]), context)
        segmenter.modalities = tuple(meta["modalities"])
        segmenter.lore_seeds = {m: int(v["seed"]) for m, v in meta["lore"].items()}
        net = segmenter._build(segmenter.modalities)
        for modality, stored in meta["lore"].items():
            if lore_sha256(net.lore(modality)) != stored["sha256"]:
                raise DataError(
                    f"{path}: the LoRE of {modality!r} regenerated from seed {stored['seed']} does not match "
                    "its sha256",
                    hint="the file was written by another version of wsad-rasalore",
                )
        load_weights(path, net, map_location=context.torch_device())
        segmenter.net, segmenter._facts = net, dict(meta.get("facts") or {})
        return segmenter


def build_network(options: RasaloreOptions, lore: dict[str, torch.Tensor]) -> RasaloreNet:
    """The network ``options`` describe, on CPU, with its implementation and ablation switches set.

    Args:
        options: the segmenter's options (geometry, implementation, ablations).
        lore: the LoRE table of each modality (``lore_variant=learned``: the initial table).
    """
    net = RasaloreNet(options.geometry(), lore, trainable_lore=options.lore_variant == "learned")
    net.configure(reference=options.implementation == "reference", checkpointing=options.activation_checkpointing)
    net.encoder.e1.use_norm = options.first_block_norm
    net.use_rasa = options.rasa
    return net


def _check_gt_val(options: RasaloreOptions, context: BuildContext, validation: SliceSet | None) -> None:
    """Refuse ``selection="gt-val"`` where the official rule cannot be reproduced.

    Raises:
        ConfigError: no ``context.validation_dice``, no validation slices, or validation held
            out of the training slices (the core scores only the validation patients' slices).
    """
    if context.validation_dice is None:
        raise ConfigError(
            "rasalore: selection 'gt-val' needs the core to score validation maps against pixel ground truth "
            "(context.validation_dice), and this run does not provide it",
            hint="configure validation patients (data.split.validation_fraction > 0), or use selection=last or "
            "selection=val-loss (no ground truth)",
        )
    if options.validation_source == "training-slices":
        raise ConfigError(
            "rasalore: selection 'gt-val' scores the validation patients' slices; it cannot be combined with "
            "validation_source='training-slices' (no ground truth reaches the held-out training slices)",
            hint="use validation_source=patients with selection=gt-val",
        )
    if validation is None or len(validation) == 0:
        raise ConfigError(
            "rasalore: selection 'gt-val' needs validation slices in fit()",
            hint="configure validation patients (data.split.validation_fraction > 0), or use selection=last",
        )
