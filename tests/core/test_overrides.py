from __future__ import annotations

import pytest

from wsad_core.config import RunConfig
from wsad_core.errors import ConfigError
from wsad_core.overrides import apply_overrides, load_config_file, parse_assignment, parse_value

BASE = {"pipeline": {"generator": {"name": "zscore"}, "segmenter": {"name": "unet", "options": {"epochs": 3}}}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=3", 3),
        ("a=0.5", 0.5),
        ("a=true", True),
        ("a=[16, 32]", [16, 32]),
        ("a=null", None),
        ("a=abc", "abc"),
        ("a=", ""),
    ],
)
def test_values_are_parsed_as_yaml(text, expected):
    assert parse_assignment(text) == (["a"], expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("*/Flair*.nii.gz", "*/Flair*.nii.gz"),  # YAML: an alias with an invalid name
        ("img/*.nii.gz", "img/*.nii.gz"),
        (r"^(?P<case>.+?)(_\d{4})?$", r"^(?P<case>.+?)(_\d{4})?$"),
        (r"[a-z]+_(?P<case>\d+)", r"[a-z]+_(?P<case>\d+)"),  # YAML: a list followed by garbage
        ("&x", "&x"),  # YAML: an anchor on null
        ("*x", "*x"),  # YAML: an undefined alias
        ("!tag", "!tag"),
        ("!!str 3", "!!str 3"),
        ("@x", "@x"),
        (" &x ", "&x"),
        ("[1, 4]", [1, 4]),
        ("[1,4]", [1, 4]),
        ("3", 3),
        ("true", True),
        ("null", None),
        ("'*/x.nii.gz'", "*/x.nii.gz"),
        ('"&x"', "&x"),
        ("'3'", "3"),
    ],
)
def test_globs_and_regexes_need_no_yaml_quoting(raw, expected):
    assert parse_value(raw) == expected
    assert parse_assignment(f"dataset.x={raw}") == (["dataset", "x"], expected)


def test_nested_dataset_options_from_globs():
    result = apply_overrides(
        {},
        [
            "dataset.images.flair=*/Flair*.nii.gz",
            "dataset.images.t1ce=*/T1c*.nii.gz",
            r"dataset.case_pattern=^(?P<case>.+?)(_\d{4})?$",
            "dataset.case_id=folder",
        ],
    )
    assert result["data"]["adapter_options"] == {
        "images": {"flair": "*/Flair*.nii.gz", "t1ce": "*/T1c*.nii.gz"},
        "case_pattern": r"^(?P<case>.+?)(_\d{4})?$",
        "case_id": "folder",
    }


@pytest.mark.parametrize("text", ["novalue", "=3", "a..b=1"])
def test_malformed_assignments_are_rejected(text):
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignment(text)


def test_stage_dataset_evaluator_and_config_paths():
    result = apply_overrides(
        BASE,
        [
            "generator.threshold=2.5",
            "segmenter.epochs=1",
            "dataset.images=img/*.nii.gz",
            "evaluator.per-volume.median_size=5",
            "data.preprocess.size=128",
            "seed=7",
        ],
    )
    assert result["pipeline"]["generator"]["options"] == {"threshold": 2.5}
    assert result["pipeline"]["segmenter"]["options"] == {"epochs": 1}
    assert result["data"] == {"adapter_options": {"images": "img/*.nii.gz"}, "preprocess": {"size": 128}}
    assert result["evaluation"]["protocol_options"] == {"per-volume": {"median_size": 5}}
    assert result["seed"] == 7
    assert BASE["pipeline"]["segmenter"]["options"] == {"epochs": 3}, "the input is not modified"
    config = RunConfig.model_validate(result)
    assert config.data.preprocess.size == 128


def test_options_for_a_missing_stage_are_an_error():
    with pytest.raises(ConfigError, match="no refiner is chosen"):
        apply_overrides(BASE, ["refiner.box=tight"])


def test_unknown_config_keys_are_rejected_by_the_model():
    with pytest.raises(ValueError, match="extra"):
        RunConfig.model_validate(apply_overrides(BASE, ["data.preprocess.sise=128"]))


@pytest.mark.parametrize(
    ("suffix", "text"), [(".yaml", "seed: 3\n"), (".json", '{"seed": 3}'), (".toml", "seed = 3\n")]
)
def test_config_files(tmp_path, suffix, text):
    path = tmp_path / f"run{suffix}"
    path.write_text(text)
    assert load_config_file(path) == {"seed": 3}


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config_file(bad)


def test_fingerprint_ignores_the_output_directory_only():
    a = RunConfig.model_validate({**BASE, "output": {"out_dir": "x"}})
    b = RunConfig.model_validate({**BASE, "output": {"out_dir": "y"}})
    c = RunConfig.model_validate({**BASE, "seed": 1})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_pipeline_needs_a_generator_for_a_refiner():
    with pytest.raises(ValueError, match="refiner needs a generator"):
        RunConfig.model_validate({"pipeline": {"refiner": {"name": "medsam"}, "segmenter": {"name": "unet"}}})


def test_lesion_labels_are_set_with_the_dataset_options_too():
    raw = apply_overrides({}, ["dataset.lesion_labels=[1,4]", "dataset.images.flair=*/Flair*.nii.gz"])
    assert raw["data"]["preprocess"]["lesion_labels"] == [1, 4]
    assert raw["data"]["adapter_options"] == {"images": {"flair": "*/Flair*.nii.gz"}}
