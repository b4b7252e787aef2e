"""The segmenter end to end on tiny synthetic data: frames, determinism, save/load/resume, options, errors."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from wsad_rasalore.config import RasaloreOptions
from wsad_rasalore.segmenter import RasaloreSegmenter
from wsad_rasalore.torch_model import NetOutput

from wsad_core import ConfigError, ContractError, DataError, Label, MaskSet
from wsad_core.testing import InterruptAt

TINY = {"input_size": 16, "num_points": 16, "embed_dim": 16, "width_divisor": 8, "batch_size": 8}


def _fit(context, toy, masks=None, **overrides):
    segmenter = RasaloreSegmenter(RasaloreOptions(**(TINY | {"epochs": 1} | overrides)), context)
    segmenter.fit(toy.slices, masks if masks is not None else toy.noisy_masks())
    return segmenter


def test_fit_predict_contract_and_provenance(context_factory, make_toy):
    toy, test = make_toy(12, anomalous_every=2), make_toy(6, seed=5, hidden=True)
    segmenter = _fit(context_factory(), toy)
    maps = segmenter.predict(test.slices)
    assert maps.kind == "probability"
    assert maps.scores.shape == (6, 32, 32)
    assert maps.scores.dtype == np.float32
    facts = segmenter.provenance
    assert facts["train_slices"] == 6  # only the anomalous half trains (§6)
    assert facts["skipped_not_anomalous"] == 6
    assert facts["lore"]["flair"]["seed"] == segmenter.lore_seeds["flair"]
    assert len(facts["lore"]["flair"]["sha256"]) == 64
    root = segmenter.context.work_dir / facts["checkpoint_dir"].split("/")[-1]
    assert (root / "bridge" / "last.pt").is_file()  # a checkpoint per epoch
    assert json.loads((root / "lore.json").read_text()) == facts["lore"]
    reported = {(d.kind, d.what) for d in segmenter.deviations}
    assert ("setting", "preset") in reported  # TINY is not the paper configuration
    assert ("setting", "MedSAM term κ·EL(T_S)") in reported  # no refined masks: "RASALoRE without MedSAM"
    segmenter.options = segmenter.options.model_copy(update={"mask_outside_brain": True})
    masked = segmenter.predict(test.slices).scores
    assert not masked[~test.slices.brain_masks].any()
    assert np.array_equal(masked[test.slices.brain_masks], maps.scores[test.slices.brain_masks])


def test_predictions_are_mapped_back_into_the_slice_frame(context_factory, monkeypatch, make_toy):
    # A stand-in network that "predicts" its own (gamma) input: the map must reproduce the slice's
    # gamma image in the slice frame, so any crop/resize misalignment shows up.
    toy = make_toy(2, size=96)
    segmenter = RasaloreSegmenter(RasaloreOptions(**(TINY | {"input_size": 64, "num_points": 64})), context_factory())
    segmenter.modalities = ("flair",)

    class Echo(torch.nn.Module):
        def forward(self, images, modality=None):
            up = torch.nn.functional.interpolate(images / 255, scale_factor=2, mode="bilinear", align_corners=False)
            return NetOutput(torch.logit(up.clamp(1e-6, 1 - 1e-6)), torch.zeros(1), torch.zeros(1))

    segmenter.net = Echo()
    maps = segmenter.predict(toy.slices).scores
    from wsad_rasalore._frames import brain_box, gamma_8bit

    gamma = gamma_8bit(toy.slices.images[:, 0], quantize=False) / 255
    box = brain_box(gamma_8bit(toy.slices.images[0, 0]))
    inner = (slice(box.top + 4, box.bottom - 4), slice(box.left + 4, box.right - 4))
    # Smooth images are reproduced closely (noise and lesion edges blur a little through 96 → 64 → 128 → 96).
    assert np.corrcoef(maps[0][inner].ravel(), gamma[0][inner].ravel())[0, 1] > 0.85
    assert not maps[0][: box.top].any()
    assert not maps[0][:, box.right :].any()


def test_seeded_training_is_deterministic(context_factory, make_toy):
    toy, test = make_toy(8), make_toy(4, seed=9, hidden=True)
    a = _fit(context_factory(seed=3, name="a"), toy, epochs=2).predict(test.slices).scores
    b = _fit(context_factory(seed=3, name="b"), toy, epochs=2).predict(test.slices).scores
    c = _fit(context_factory(seed=4, name="c"), toy, epochs=2).predict(test.slices).scores
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_interrupted_training_resumes_bit_identically(context_factory, make_toy):
    toy, test = make_toy(8), make_toy(4, seed=9, hidden=True)
    expected = _fit(context_factory(name="straight"), toy, epochs=3).predict(test.slices).scores
    with pytest.raises(KeyboardInterrupt):
        _fit(context_factory(name="resumed", progress=InterruptAt("rasalore 3/3")), toy, epochs=3)
    resumed = _fit(context_factory(name="resumed"), toy, epochs=3)
    assert resumed.histories["bridge"].resumed_at == [2]
    assert np.array_equal(resumed.predict(test.slices).scores, expected)


def test_save_and_load_give_identical_predictions(context_factory, tmp_path, make_toy):
    toy, test = make_toy(8), make_toy(4, seed=9, hidden=True)
    segmenter = _fit(context_factory(), toy)
    path = segmenter.save(tmp_path / "rasalore.pt")
    stored = torch.load(path, weights_only=True)
    assert stored["meta"]["lore"]["flair"]["sha256"] == segmenter.provenance["lore"]["flair"]["sha256"]
    loaded = RasaloreSegmenter.load(path, context_factory(name="other"))
    assert loaded.options == segmenter.options
    assert np.array_equal(loaded.predict(test.slices).scores, segmenter.predict(test.slices).scores)


def test_lore_seed_option_and_default(context_factory, make_toy):
    toy = make_toy(8)
    explicit = _fit(context_factory(name="x"), toy, lore_seed=123)
    assert explicit.lore_seeds == {"flair": 123}
    assert any("seed 123" in note for note in explicit.notes)
    other_run_seed = _fit(context_factory(seed=5, name="y"), toy)
    assert other_run_seed.lore_seeds["flair"] != _fit(context_factory(seed=6, name="z"), toy).lore_seeds["flair"]


def test_refined_masks_train_the_kappa_term(context_factory, make_toy):
    toy = make_toy(8)
    refined = dataclasses.replace(toy.truth_masks(), upstream=toy.noisy_masks())
    with_sam = _fit(context_factory(name="sam"), toy, masks=refined)
    assert with_sam.provenance["refined_masks"] is True
    assert with_sam.provenance["pseudo_mask_source"] == "truth"
    assert not any(d.what.startswith("MedSAM") for d in with_sam.deviations)
    without = _fit(context_factory(name="nosam"), toy, masks=refined, use_refined_masks=False)
    assert without.provenance["refined_masks"] is False
    assert with_sam.histories["bridge"].train_loss != without.histories["bridge"].train_loss


def test_val_loss_selection_uses_validation_pseudo_masks(context_factory, make_toy):
    toy, validation = make_toy(8), make_toy(6, seed=2)
    segmenter = RasaloreSegmenter(RasaloreOptions(**(TINY | {"epochs": 2, "selection": "val-loss"})), context_factory())
    segmenter.fit(
        toy.slices, toy.noisy_masks(), validation=validation.slices, validation_masks=validation.noisy_masks()
    )
    history = segmenter.histories["bridge"]
    assert len(history.val_loss) == 2
    assert history.selected_epoch == history.best_epoch
    assert segmenter.provenance["validation_slices"] == 6
    with pytest.raises(ConfigError, match="val-loss"):
        _fit(context_factory(name="novalidation"), toy, selection="val-loss")


def test_training_slices_hold_out_is_seeded_like_the_official_90_10_split(context_factory, make_toy):
    toy = make_toy(20)
    a = _fit(context_factory(name="a"), toy, validation_source="training-slices", selection="val-loss")
    b = _fit(context_factory(name="b"), toy, validation_source="training-slices", selection="val-loss")
    assert a.provenance["validation_slices"] == 2
    assert a.provenance["train_slices"] == 18
    assert a.histories["bridge"].val_loss == b.histories["bridge"].val_loss


def test_errors_are_clear(context_factory, make_toy):
    toy = make_toy(4)
    with pytest.raises(ContractError, match="pseudo-masks"):
        RasaloreSegmenter(RasaloreOptions(**TINY), context_factory()).fit(toy.slices, None)
    with pytest.raises(ContractError, match="before fit"):
        RasaloreSegmenter(RasaloreOptions(**TINY), context_factory()).predict(toy.slices)
    empty = MaskSet(np.zeros((4, 32, 32), np.float32), np.zeros((4, 32, 32), bool), "empty")
    with pytest.raises(DataError, match="no training slice"):
        _fit(context_factory(), toy, masks=empty)
    with pytest.raises(ConfigError, match="'t2' requested"):
        _fit(context_factory(), toy, modality="t2")
    two = make_toy(4, channels=2)
    with pytest.raises(ConfigError, match="needs one"):
        _fit(context_factory(), two)


def test_multimodal_variant_trains_a_rasa_per_modality(context_factory, make_toy):
    toy, test = make_toy(8, channels=2), make_toy(4, seed=9, channels=2, hidden=True)
    with pytest.raises(ConfigError, match="'t2' requested"):  # the default bridge is the paper's T2
        _fit(context_factory(name="t2"), toy, multimodal=("flair", "t1"))
    options = {"multimodal": ("t1", "flair"), "bridge_modality": "flair", "epochs": 1}
    segmenter = _fit(context_factory(name="mm"), toy, **options)
    assert segmenter.modalities == ("flair", "t1")  # bridge first
    assert set(segmenter.histories) == {"bridge", "multimodal"}
    lore = segmenter.provenance["lore"]
    assert lore["flair"]["sha256"] != lore["t1"]["sha256"]
    modality = [d for d in segmenter.deviations if d.kind == "modality"]
    assert [(d.what, d.used, d.published) for d in modality] == [("bridge modality", "flair", "t2")]
    bridge_rasa = segmenter.net.rasa["flair"]
    assert not any(p.requires_grad for p in bridge_rasa.parameters())  # frozen bridge RASA (§11 default)
    from_flair = segmenter.predict(test.slices).scores
    segmenter.options = segmenter.options.model_copy(update={"predict_modality": "t1"})
    from_t1 = segmenter.predict(test.slices).scores
    assert from_flair.shape == from_t1.shape == (4, 32, 32)
    assert not np.array_equal(from_flair, from_t1)
    flair_only = dataclasses.replace(test.slices, images=test.slices.images[:, :1], modalities=("flair",))
    with pytest.raises(ConfigError, match="'t1' requested"):
        segmenter.predict(flair_only)


def test_healthy_labels_are_never_trained_on(context_factory, make_toy):
    toy = make_toy(8)
    labels = toy.slices.labels.copy()
    labels[:] = Label.HEALTHY
    healthy = dataclasses.replace(toy.slices, labels=labels)
    with pytest.raises(DataError, match="8 not labelled anomalous"):
        RasaloreSegmenter(RasaloreOptions(**TINY), context_factory()).fit(healthy, toy.truth_masks())
