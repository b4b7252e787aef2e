"""Deviations from the published DDPT: none for the faithful run, one record per departure otherwise."""

from __future__ import annotations

import pytest
from wsad_ddpt._deviations import SETTING_FIELDS, ddpt_deviations
from wsad_ddpt._weights import OPENAI_VIT_B_32_SHA256
from wsad_ddpt.config import PAPER_CLASS_WORDS, DDPTOptions
from wsad_ddpt.generator import DEFECT_FIXES_NOTE, DDPTGenerator

from wsad_core import Deviation
from wsad_core.testing import toy_batch

#: Weights facts of a run on the OpenAI release file (what ``_clip.build_clip`` records).
OFFICIAL = {"weights": "/models/ViT-B-32.pt", "weights_sha256": OPENAI_VIT_B_32_SHA256, "weights_origin": "option"}
#: The options of the benchmark's CPU scale (wsad_core/bench/presets.py, ``_CPU_OPTIONS["ddpt"]``).
CPU_BENCHMARK = {"epochs": 3}
PUBLISHED_BACKBONE = "ViT-B-32 (OpenAI CLIP ViT-B/32)"
QUICK = {"warmup_epochs": 0, "coop_warmup_epochs": 0, "batch_size": 16, "train_fraction": 1.0}


def _rows(deviations: list[Deviation]) -> list[tuple[str, str, str, str]]:
    return [(d.kind, d.what, d.used, d.published) for d in deviations]


def test_the_published_configuration_reports_nothing():
    assert ddpt_deviations(DDPTOptions(), OFFICIAL, "t2") == []
    assert ddpt_deviations(DDPTOptions(), OFFICIAL, None) == []  # before fit: modality not known yet
    # Speed knobs and where the file comes from do not change the method.
    same = DDPTOptions(predict_batch_size=4, weights="/models/ViT-B-32.pt", weights_sha256=OPENAI_VIT_B_32_SHA256)
    assert ddpt_deviations(same, OFFICIAL, "T2") == []


def test_every_setting_field_is_an_option_and_is_reported_when_changed():
    fields = DDPTOptions.model_fields
    assert set(SETTING_FIELDS) <= fields.keys()
    unchecked = fields.keys() - set(SETTING_FIELDS)
    # Each option left out is reported another way (weights, backbone, selection, modality) or is a speed knob.
    assert unchecked == {
        "model", "pretrained", "weights", "weights_sha256", "allow_random_init", "selection", "channel",
        "predict_batch_size",
    }  # fmt: skip


def test_cpu_benchmark_options_report_only_their_epochs():
    found = ddpt_deviations(DDPTOptions(**CPU_BENCHMARK), OFFICIAL, "t2")
    assert _rows(found) == [("setting", "epochs", "3", "60")]


def test_reduced_and_changed_settings_each_get_a_row():
    options = DDPTOptions(
        shots=500,
        train_fraction=1.0,
        batch_size=16,
        lr=0.02,
        coop_lr=0.001,
        n_ctx=4,
        template="a scan of a {} brain.",
        class_words=PAPER_CLASS_WORDS,
        logit_scale=14.29,
        crop_scale=(0.5, 1.0),
    )
    found = {d.what: d for d in ddpt_deviations(options, OFFICIAL, "t2")}
    assert {d.kind for d in found.values()} == {"setting"}
    assert found["shots"].short() == "shots 500 (published 10000)"
    assert found["train_fraction"].short() == "train_fraction 1.0 (published 0.6)"
    assert found["batch_size"].short() == "batch_size 16 (published 32)"
    assert found["class_words"].short() == "class_words No Tumor/Tumor (published Healthy/Unhealthy)"
    assert found["crop_scale"].short() == "crop_scale 0.5/1.0 (published 0.08/1.0)"
    assert found["logit_scale"].published.startswith("backbone's exp(logit_scale), 100")
    assert {"lr", "coop_lr", "n_ctx", "template"} <= found.keys()


def test_weights_other_than_the_openai_release_are_a_deviation():
    hub = {"weights": "/hf/open_clip_pytorch_model.bin", "weights_sha256": "ab" * 32}
    hub["weights_origin"] = "open_clip-cache"
    (row,) = ddpt_deviations(DDPTOptions(), hub, "t2")
    assert row.kind == "weights"
    assert row.used.startswith("open_clip_pytorch_model.bin, sha256 abababababab… (not a known official release")
    assert row.published.startswith("OpenAI ViT-B-32.pt, sha256 40d365715913")
    # A tag other than 'openai' that chose the file is named too; with an explicit file it did not choose it.
    tagged = ddpt_deviations(DDPTOptions(pretrained="laion2b_s34b_b79k"), hub, "t2")
    assert _rows(tagged)[1] == ("setting", "pretrained", "laion2b_s34b_b79k", "openai")
    explicit = {**hub, "weights_origin": "option"}
    assert [d.what for d in ddpt_deviations(DDPTOptions(pretrained=None), explicit, "t2")] == ["CLIP weights"]
    random = {"weights": None, "weights_origin": "random-init"}
    assert _rows(ddpt_deviations(DDPTOptions(allow_random_init=True), random, "t2")) == [
        ("weights", "CLIP weights", "random init", "OpenAI ViT-B-32.pt, sha256 40d365715913…")
    ]


def test_tiny_test_config_substitutes_the_backbone(tiny, context_factory):
    generator = DDPTGenerator(DDPTOptions(**tiny), context_factory())
    assert _rows(generator.deviations) == [
        ("weights", "CLIP weights", "random init", "OpenAI ViT-B-32.pt, sha256 40d365715913…"),
        ("substitute", "backbone", "ddpt-tiny (bundled 2-layer width-64 test config)", PUBLISHED_BACKBONE),
        ("setting", "epochs", "1", "60"),
    ]
    assert generator.checkpoint_selection == "last epoch"
    assert generator.notes == (DEFECT_FIXES_NOTE,)


def test_best_validation_selection_is_a_selection_deviation():
    options = DDPTOptions(selection="best-validation")
    (row,) = ddpt_deviations(options, OFFICIAL, "t2")
    assert (row.kind, row.what, row.published) == ("selection", "checkpoint", "last epoch")
    assert row.used.startswith("best-validation: lowest slice-label cross-entropy")


@pytest.mark.parametrize(("channel", "expected"), [(0, [("modality", "modality", "flair", "t2")]), (3, [])])
def test_modality_of_the_training_slices(tiny, context_factory, tmp_path, channel, expected):
    data = toy_batch(n_train=16, size=64, channels=4, seed=1).train  # flair, t1, t1ce, t2
    options = DDPTOptions(**{**tiny, **QUICK, "channel": channel})
    generator = DDPTGenerator(options, context_factory(name=f"channel{channel}"))
    assert not [d for d in generator.deviations if d.kind == "modality"]  # not known before fit
    generator.fit(data)
    assert _rows([d for d in generator.deviations if d.kind == "modality"]) == expected
    # Loaded prompts keep the modality they were trained on.
    loaded = DDPTGenerator.load(generator.save(tmp_path / "prompts.pt"), context_factory(name=f"load{channel}"))
    assert loaded.deviations == generator.deviations
