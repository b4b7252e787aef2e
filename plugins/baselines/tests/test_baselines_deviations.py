"""Deviation records (issue 12): every departure from the paper on its own row, and only departures."""

from __future__ import annotations

import pytest
from wsad_baselines.ae import AESegmenter
from wsad_baselines.amecam import AmeCamGenerator
from wsad_baselines.config import UNetOptions, ZScoreOptions
from wsad_baselines.config_amecam import AmeCamOptions
from wsad_baselines.config_recon import AEOptions, DAEOptions
from wsad_baselines.dae import DAESegmenter
from wsad_baselines.unet import UNetSegmenter
from wsad_baselines.zscore import ZScoreGenerator

from wsad_core import Deviation
from wsad_core.data.config import PreprocessConfig
from wsad_core.deviations import as_deviations

PUBLISHED = {
    "ae": (AESegmenter, AEOptions),
    "dae": (DAESegmenter, DAEOptions),
    "ame-cam": (AmeCamGenerator, AmeCamOptions),
}

# A CPU-sized configuration of each method (the values of the benchmark's CPU scale) and the
# `setting` records it must produce: exactly its changed fields, with used and published values.
REDUCED = {
    "ae": ({"epochs": 10, "batch_size": 32}, {"batch_size": ("32", "128"), "epochs": ("at most 10", None)}),
    "dae": (
        {"channels": [16, 32, 64, 128], "epochs": 6, "iterations_per_epoch": 32, "validation_batches": 4},
        {"channels": ("16/32/64/128", "64/128/256/512"), "epochs": ("6", "2100"), "validation_batches": ("4", "32")},
    ),
    "ame-cam": (
        {"image_size": 128, "width": 32, "simclr_epochs": 2, "classifier_batch_size": 32, "aggregation_epochs": 2},
        {
            "image_size": ("128", "240 (the slice, no resize)"),
            "width": ("32", "64"),
            "simclr_epochs": ("2", "100"),
            "classifier_batch_size": ("32", "256"),
            "aggregation_epochs": ("2", "10"),
        },
    ),
}


def _settings(deviations: list[Deviation]) -> dict[str, tuple[str, str]]:
    return {d.what: (d.used, d.published) for d in deviations if d.kind == "setting"}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_default_configuration_reports_no_setting(name, context_factory):
    cls, options = PUBLISHED[name]
    deviations = as_deviations(cls(options(), context_factory()).deviations, source=name)
    assert not [d for d in deviations if d.kind == "setting"]


@pytest.mark.parametrize("name", sorted(REDUCED))
def test_reduced_configuration_reports_exactly_the_changed_fields(name, context_factory):
    cls, options = PUBLISHED[name]
    values, expected = REDUCED[name]
    settings = _settings(cls(options(**values), context_factory()).deviations)
    assert set(settings) == set(expected)
    for field, (used, published) in expected.items():
        assert settings[field][0] == used
        if published is not None:
            assert settings[field][1] == published
    # The AE's epoch limit is wsad's cap: the published run stops on its validation loss alone.
    if name == "ae":
        assert settings["epochs"][1] == "until 5 epochs without validation gain"


def test_reference_baselines_report_no_deviation(context_factory):
    assert not hasattr(ZScoreGenerator(ZScoreOptions(), context_factory()), "deviations")
    unet = UNetSegmenter(UNetOptions(), context_factory())
    assert not hasattr(unet, "deviations")
    assert unet.checkpoint_selection == "last epoch"
    assert UNetSegmenter(UNetOptions(selection="best-validation"), context_factory()).checkpoint_selection == (
        "lowest loss on the validation slices' pseudo-masks"
    )


def test_healthy_cohort_is_a_data_deviation_of_the_ae_only(context_factory):
    ae = AESegmenter(AEOptions(), context_factory()).deviations
    (data,) = [d for d in ae if d.kind == "data"]
    assert data.used == "tumour-free slices of the training patients"
    assert "IXI" in data.published
    # Kascenas et al. also train on the tumour-free slices of their BraTS training patients (§3).
    assert not [d for d in DAESegmenter(DAEOptions(), context_factory()).deviations if d.kind == "data"]


def test_pipeline_preprocessing_is_reported_against_the_papers(context_factory):
    config = PreprocessConfig(percentiles=(1.0, 99.0), ambiguous_slices="anomalous")
    context = context_factory(preprocessing=config)
    dae = {d.what: d for d in DAESegmenter(DAEOptions(), context).deviations}
    assert dae["input normalisation"].kind == "default"
    assert "percentiles 1-99" in dae["input normalisation"].used
    assert "99th percentile" in dae["input normalisation"].published
    amecam = {d.what: d for d in AmeCamGenerator(AmeCamOptions(), context).deviations}
    labels = amecam["slice labels"]
    assert labels.kind == "data"
    assert labels.used.startswith("anomalous iff > 200 lesion px, 1-200 px labelled anomalous")
    assert "576 px" in labels.published
    assert "8-bit JPEG" in amecam["input normalisation"].published
    # Outside a run the label rule is unknown: no record rather than a guess.
    assert "slice labels" not in {d.what for d in AmeCamGenerator(AmeCamOptions(), context_factory()).deviations}
    # No text may contain the separator of a table cell.
    assert not [d for d in (*dae.values(), *amecam.values()) if ";" in d.short()]


def test_amecam_defaults_that_are_not_the_official_codes(context_factory):
    before = {d.what: d for d in AmeCamGenerator(AmeCamOptions(), context_factory()).deviations}
    assert before["brain masking"].kind == "default"
    assert before["NT-Xent"].published == "raw dot products (official code)"
    assert before["stage-1 checkpoint"].kind == "selection"
    assert "random 10 %" in before["stage-1 checkpoint"].published
    assert "polarity" not in before  # 'auto' is settled by fit
    faithful = AmeCamOptions(simclr_normalize=False, mask_outside_brain=False, polarity="inverted")
    left = {d.what for d in AmeCamGenerator(faithful, context_factory()).deviations}
    assert left == {"input normalisation", "stage-1 checkpoint"}
    direct = {d.what: d for d in AmeCamGenerator(AmeCamOptions(polarity="direct"), context_factory()).deviations}
    assert direct["polarity"].used == "direct"
    assert direct["polarity"].published == "inverted (official code)"
    # Stage 0 skipped: its similarity is no departure, and the run says so as a fact.
    skipped = AmeCamGenerator(AmeCamOptions(simclr_epochs=0), context_factory())
    assert "NT-Xent" not in {d.what for d in skipped.deviations}
    assert skipped.checkpoint_selection.startswith("stage 0 skipped; stage 1 best slice AUC")


def _tiny_fit(cls, options, toy, context, **kwargs):
    segmenter = cls(options, context)
    segmenter.fit(toy.slices, None, **kwargs)
    return segmenter


def test_fitted_reconstruction_baselines_report_modality_selection_and_epochs(context_factory, make_toy):
    toy = make_toy(8, 32, seed=1)
    tiny_ae = {"image_size": 32, "encoder_channels": (4, 8), "decoder_channels": (8, 4), "bottleneck_channels": 2}
    ae_options = AEOptions(**(tiny_ae | {"latent_dim": 8, "epochs": 2, "batch_size": 4, "erosion_iterations": 1}))
    # Without healthy validation slices there is no early stopping: the cap ends the run.
    ae = _tiny_fit(AESegmenter, ae_options, toy, context_factory(name="ae"))
    found = {d.what: d for d in ae.deviations}
    assert found["epochs"].used == "2 (cap reached)"
    assert found["checkpoint"].kind == "selection"
    assert found["checkpoint"].used == "last epoch, no early stopping (no healthy validation slices)"
    assert ae.checkpoint_selection == "last epoch of 2; kept epoch 2 of 2 (ran to the cap)"
    assert "modality" not in found  # §2 names no modality

    dae_options = DAEOptions(
        image_size=32, channels=(4, 8), epochs=1, iterations_per_epoch=1, batch_size=4, validation_batches=1
    )
    dae = _tiny_fit(DAESegmenter, dae_options, toy, context_factory(name="dae"))
    found = {d.what: d for d in dae.deviations}
    assert (found["modality"].used, found["modality"].published) == ("flair", "flair/t1/t1ce/t2")
    assert found["checkpoint"].used == "last pseudo-epoch (no healthy validation slices)"
    assert dae.checkpoint_selection == "last pseudo-epoch (pseudo-epoch 1 of 1)"
    stacked = _tiny_fit(DAESegmenter, dae_options, make_toy(8, 32, seed=1, channels=4), context_factory(name="d4"))
    assert "modality" not in {d.what for d in stacked.deviations}  # the paper's four modalities


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_notes_do_not_repeat_the_deviations(name, context_factory):
    cls, options = PUBLISHED[name]
    obj = cls(options(**REDUCED[name][0]), context_factory(preprocessing=PreprocessConfig()))
    notes = " ".join(obj.notes)
    # What the notes used to say: reduced sizes, the healthy cohort, the papers' data.
    for phrase in ("reduced configuration", "tumour-free", "IXI", "99th percentile", "8-bit", "T2"):
        assert phrase not in notes
    assert obj.deviations
    for deviation in obj.deviations:  # the descriptive texts, not bare numbers that may occur anywhere
        for text in (deviation.used, deviation.published):
            assert len(text) < 8 or text not in notes
