"""What a rasalore result says about itself: deviations, checkpoint selection, notes; and selection=gt-val."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from wsad_rasalore.config import RasaloreOptions
from wsad_rasalore.segmenter import RasaloreSegmenter

from wsad_core import ConfigError, Deviation, PreprocessConfig, ScoreMaps
from wsad_core.deviations import as_deviations, describe_deviations, merge_deviations

TINY = {"input_size": 16, "num_points": 16, "embed_dim": 16, "width_divisor": 8, "batch_size": 8}
GT_VAL = "gt-val: best epoch by validation Dice against pixel ground truth (official code; uses validation labels)"


def _report(context_factory, options=None, **fields):
    segmenter = RasaloreSegmenter(RasaloreOptions(**(options or {})), context_factory(**fields))
    return [(d.kind, d.what, d.used, d.published) for d in segmenter.deviations], segmenter


# --- deviations ---------------------------------------------------------------------------


def test_the_default_configuration_deviates_only_in_its_checkpoint_selection(context_factory):
    found, segmenter = _report(context_factory)
    assert found == [
        ("selection", "checkpoint", "last epoch", "best epoch by validation Dice against pixel ground truth")
    ]
    assert segmenter.checkpoint_selection == "last epoch"
    # The core accepts them and prints them on a row.
    assert describe_deviations(as_deviations(segmenter.deviations, source="segmenter rasalore")) == (
        "selection: checkpoint last epoch (published best epoch by validation Dice against pixel ground truth)"
    )


def test_cpu_small_with_four_epochs(context_factory):
    found, _ = _report(context_factory, {"preset": "cpu-small", "epochs": 4})
    assert found == [
        (
            "setting",
            "preset",
            "cpu-small: 64² input (128² output), k=256, d=64, 4 heads, convolution widths / 2",
            "paper: 128² input (256² output), k=1024, d=256, 4 heads",
        ),
        ("setting", "epochs", "4", "200"),
        ("selection", "checkpoint", "last epoch", "best epoch by validation Dice against pixel ground truth"),
    ]
    overridden, _ = _report(context_factory, {"embed_dim": 128})
    assert overridden[0][2].startswith("paper with overrides: 128² input (256² output), k=1024, d=128")


def test_gt_val_is_the_official_selection(context_factory):
    found, segmenter = _report(context_factory, {"selection": "gt-val"})
    assert found == []
    assert segmenter.checkpoint_selection == GT_VAL
    _, val_loss = _report(context_factory, {"selection": "val-loss"})
    assert val_loss.checkpoint_selection.startswith("val-loss: lowest loss against the validation slices' pseudo")


def test_optimiser_loss_and_data_options_are_settings(context_factory):
    options = {
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "overlap": "dice",
        "alpha": 0.3,
        "beta": 1.0,
        "lore_variant": "smooth",
        "augment": False,
        "quantize_8bit": False,
        "use_refined_masks": False,
        "selection": "gt-val",
    }
    found, _ = _report(context_factory, options)
    assert [(kind, what, used, published) for kind, what, used, published in found] == [
        ("setting", "optimizer", "adam", "sgd"),
        ("setting", "learning_rate", "0.001", "0.01"),  # momentum does not apply to Adam: not listed
        ("setting", "alpha", "0.3", "0.6"),
        ("setting", "beta", "1.0", "0.6"),
        ("setting", "overlap", "dice", "tversky"),
        ("setting", "quantize_8bit", "off", "on"),
        ("setting", "augment", "off", "on"),
        ("setting", "lore_variant", "smooth", "official"),
        ("setting", "MedSAM term κ·EL(T_S)", "dropped (use_refined_masks off)", "on M_SAM masks"),
    ]


def test_fixes_of_the_official_code_are_notes_not_deviations(context_factory):
    for options in ({"sam_crop_frame": "official-240"}, {"validation_source": "training-slices"}, {}):
        found, segmenter = _report(context_factory, options | {"selection": "gt-val"})
        assert found == []
    _, segmenter = _report(context_factory, {"lore_seed": 7})
    fixes = next(note for note in segmenter.notes if note.startswith("fixes of the official code"))
    for fix in ("LoRE seeded", "own frame", "training batches only", "validation by patient"):
        assert fix in fixes
    assert any(note.startswith("one LoRE draw (seed 7); paper Table 1 is the mean of 5") for note in segmenter.notes)
    held_out, _ = _report(context_factory, {"validation_source": "training-slices", "validation_fraction": 0.2})
    assert held_out[0] == ("setting", "validation_fraction", "0.2", "0.1")
    masked, _ = _report(context_factory, {"mask_outside_brain": True})
    assert masked[0] == ("setting", "mask_outside_brain", "on", "off")
    _, official = _report(context_factory, {"sam_crop_frame": "official-240"})
    assert any("240² indices as the official code" in note for note in official.notes)


def test_modality_other_than_t2(context_factory):
    found, segmenter = _report(context_factory, {"modality": "flair", "selection": "gt-val"})
    assert found == [("modality", "modality", "flair", "t2")]
    # The benchmark reports the same fact in the same words: the core's merge lists it once.
    bench = Deviation(kind="modality", what="modality", used="flair", published="t2", source="bench")
    plugin = as_deviations(segmenter.deviations, source="segmenter rasalore")
    assert merge_deviations(plugin, [bench]) == plugin
    assert _report(context_factory, {"modality": "t2", "selection": "gt-val"})[0] == []
    bridge, _ = _report(context_factory, {"multimodal": ("flair", "t1"), "bridge_modality": "flair"})
    assert ("modality", "bridge modality", "flair", "t2") in bridge
    paper_bridge, _ = _report(context_factory, {"multimodal": ("t2", "t1"), "selection": "gt-val"})
    assert paper_bridge == []


def test_intensities_follow_the_run_preprocessing(context_factory):
    gt = {"selection": "gt-val"}
    unknown, segmenter = _report(context_factory, gt)
    assert unknown == []
    assert any(note.startswith("intensities: the run's slice normalisation is unknown") for note in segmenter.notes)

    volume, segmenter = _report(context_factory, gt, preprocessing=PreprocessConfig())
    assert volume == [
        (
            "default",
            "intensity normalisation",
            "per volume, brain percentiles 0.5-99.5 to [0, 1]",
            "per slice min-max (8-bit PNG)",
        )
    ]
    assert not any("unknown" in note for note in segmenter.notes)

    slice_minmax = PreprocessConfig(normalisation="slice-minmax")
    matching, segmenter = _report(context_factory, gt, preprocessing=slice_minmax)
    assert matching == []  # per-slice min-max, 8-bit truncation, gamma 2: the official input
    note = next(n for n in segmenter.notes if n.startswith("intensities"))
    assert "per-slice min-max as the official PNG export" in note
    assert "8-bit truncation" in note
    assert "on 256² slices; official: native 240²" in note
    native = PreprocessConfig(normalisation="slice-minmax", size=240)
    assert "native" not in next(n for n in _report(context_factory, gt, preprocessing=native)[1].notes if "intens" in n)

    untruncated, _ = _report(context_factory, gt | {"quantize_8bit": False}, preprocessing=slice_minmax)
    assert untruncated == [("setting", "quantize_8bit", "off", "on")]


def test_fit_adds_what_it_found(context_factory, make_toy):
    toy = make_toy(8)
    segmenter = RasaloreSegmenter(RasaloreOptions(**TINY, epochs=1), context_factory())
    assert not any(d.kind == "modality" for d in segmenter.deviations)  # unknown before fit
    segmenter.fit(toy.slices, toy.noisy_masks())
    kinds = [(d.kind, d.what) for d in segmenter.deviations]
    assert kinds == [
        ("setting", "preset"),
        ("setting", "epochs"),
        ("setting", "batch_size"),
        ("setting", "MedSAM term κ·EL(T_S)"),  # no refiner ran
        ("modality", "modality"),  # the toy's only channel is flair
        ("selection", "checkpoint"),
    ]


# --- selection=gt-val -----------------------------------------------------------------------


class _FakeDice:
    """``validation_dice`` returning preset scores in call order; it keeps the maps it was given."""

    def __init__(self, *scores: float) -> None:
        self.scores, self.maps = list(scores), []

    def __call__(self, maps: ScoreMaps) -> float:
        assert isinstance(maps, ScoreMaps)
        assert maps.kind == "probability"
        self.maps.append(maps.scores.copy())
        return self.scores[len(self.maps) - 1]


class _Interrupt:
    """A progress reporter that raises when the named bar starts (a killed run)."""

    def __init__(self, description: str) -> None:
        self.description = description

    @contextlib.contextmanager
    def task(self, description, total):
        if description == self.description:
            raise KeyboardInterrupt
        yield self

    def advance(self, steps=1, **fields):
        pass


def _gt_val_fit(context, toy, validation, epochs=3):
    segmenter = RasaloreSegmenter(RasaloreOptions(**TINY, epochs=epochs, selection="gt-val"), context)
    segmenter.fit(
        toy.slices, toy.noisy_masks(), validation=validation.slices, validation_masks=validation.noisy_masks()
    )
    return segmenter


def _last_fit(context, toy, epochs):
    segmenter = RasaloreSegmenter(RasaloreOptions(**TINY, epochs=epochs), context)
    segmenter.fit(toy.slices, toy.noisy_masks())
    return segmenter


@pytest.fixture
def toys(make_toy):
    """Training slices, validation slices (labels hidden, as the core would not need them) and test slices."""
    return make_toy(8), make_toy(5, seed=3, hidden=True), make_toy(4, seed=9, hidden=True)


def test_gt_val_keeps_the_best_epoch_scored_on_the_maps_predict_returns(context_factory, toys):
    toy, validation, test = toys
    fake = _FakeDice(0.2, 0.7, 0.4)  # prefers epoch 2 of 3 (index 1)
    segmenter = _gt_val_fit(context_factory(name="gt", validation_dice=fake), toy, validation)
    history = segmenter.histories["bridge"]
    assert (history.best_epoch, history.selected_epoch) == (1, 1)
    assert segmenter.provenance["history_bridge"]["validation_dice"] == pytest.approx([0.2, 0.7, 0.4])
    assert segmenter.provenance["validation_slices"] == 5
    # The maps scored at epoch 2 are what predict() returns for the validation slices with the kept weights ...
    assert fake.maps[1].shape == (5, 32, 32)
    assert np.array_equal(segmenter.predict(validation.slices).scores, fake.maps[1])
    # ... and those weights are epoch 2's: a run stopped after 2 epochs predicts the same.
    two = _last_fit(context_factory(name="two"), toy, epochs=2)
    assert np.array_equal(segmenter.predict(test.slices).scores, two.predict(test.slices).scores)
    assert segmenter.deviations == [d for d in segmenter.deviations if d.kind != "selection"]
    assert segmenter.checkpoint_selection == GT_VAL


def test_gt_val_ties_keep_the_earlier_epoch(context_factory, toys):
    toy, validation, test = toys
    segmenter = _gt_val_fit(context_factory(name="tie", validation_dice=_FakeDice(0.5, 0.5, 0.3)), toy, validation)
    assert segmenter.histories["bridge"].selected_epoch == 0
    one = _last_fit(context_factory(name="one"), toy, epochs=1)
    assert np.array_equal(segmenter.predict(test.slices).scores, one.predict(test.slices).scores)


@pytest.mark.parametrize(("before", "after", "chosen"), [((0.2, 0.7), (0.4,), 1), ((0.2, 0.3), (0.9,), 2)])
def test_gt_val_choice_survives_a_resume(context_factory, toys, before, after, chosen):
    toy, validation, test = toys
    straight = _gt_val_fit(
        context_factory(name="straight", validation_dice=_FakeDice(*before, *after)), toy, validation
    )
    interrupted = context_factory(
        name="resumed", validation_dice=_FakeDice(*before), progress=_Interrupt("rasalore 3/3")
    )
    with pytest.raises(KeyboardInterrupt):
        _gt_val_fit(interrupted, toy, validation)
    fake = _FakeDice(*after)  # only the epoch after the resume is scored again
    resumed = _gt_val_fit(context_factory(name="resumed", validation_dice=fake), toy, validation)
    history = resumed.histories["bridge"]
    assert history.resumed_at == [2]
    assert len(fake.maps) == 1
    assert history.selected_epoch == chosen
    assert np.array_equal(resumed.predict(test.slices).scores, straight.predict(test.slices).scores)


def test_gt_val_refuses_what_it_cannot_reproduce(context_factory, toys):
    toy, validation, _ = toys
    with pytest.raises(ConfigError, match="validation_dice"):
        _gt_val_fit(context_factory(name="none"), toy, validation)
    no_validation = RasaloreSegmenter(
        RasaloreOptions(**TINY, selection="gt-val"), context_factory(name="noval", validation_dice=_FakeDice())
    )
    with pytest.raises(ConfigError, match="needs validation slices"):
        no_validation.fit(toy.slices, toy.noisy_masks())
    options = RasaloreOptions(**TINY, selection="gt-val", validation_source="training-slices")
    held_out = RasaloreSegmenter(options, context_factory(name="slices", validation_dice=_FakeDice()))
    with pytest.raises(ConfigError, match="training-slices"):
        held_out.fit(toy.slices, toy.noisy_masks(), validation=validation.slices)
