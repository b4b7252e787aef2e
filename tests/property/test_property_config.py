"""Any ``-o key=value`` list and any configuration file give a valid run configuration or a WsadError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsad_core import PluginHost
from wsad_core.cli.run_cmd import build_run_config
from wsad_core.config import RunConfig
from wsad_core.errors import WsadError
from wsad_core.pipeline import plan_pipeline

_KEYS = [
    "data.preprocess.size",
    "data.preprocess.skip_first",
    "data.preprocess.percentiles",
    "data.preprocess.lesion_labels",
    "data.split.folds",
    "data.split.test_fraction",
    "data.modalities",
    "data.source",
    "segmenter.epochs",
    "segmenter.channels",
    "segmenter.batch_size",
    "generator.threshold",
    "evaluator.per-slice.min_lesion_pixels",
    "evaluation.threshold_rules",
    "output.overlays",
    "seed",
    "device",
    "no.such.key",
    "data",
    "segmenter",
    "data.preprocess.size.deeper",
]
_VALUES = st.sampled_from(
    ["3", "-1", "0", "1e9", "0.5", "[16, 32]", "[]", "[1, 4]", "[0]", "null", "true", "abc", "{a: 1}", "''", "[", "nan"]
) | st.text(max_size=12)
_KEY_TEXT = st.sampled_from(_KEYS) | st.text(max_size=15)
_ASSIGNMENT = st.tuples(_KEY_TEXT, _VALUES).map(lambda kv: f"{kv[0]}={kv[1]}") | st.text(max_size=20)
_ASSIGNMENTS = st.lists(_ASSIGNMENT, max_size=4)


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost()


def _plan_or_refuse(host: PluginHost, build) -> None:
    refusal: WsadError | None = None
    try:
        config = build()
        plan_pipeline(config, host)
    except WsadError as error:  # anything else escapes and fails the test
        refusal = error
    if refusal is not None:
        assert refusal.message.strip(), "an error says what is wrong"
        return
    assert isinstance(config, RunConfig)


@given(assignments=_ASSIGNMENTS)
def test_overrides_give_a_config_or_a_wsad_error(host: PluginHost, assignments: list[str]) -> None:
    stages = {"generator": "zscore", "refiner": None, "segmenter": "unet"}
    _plan_or_refuse(
        host,
        lambda: build_run_config(config_file=None, stages=stages, flags={}, assignments=tuple(assignments)),
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from([*_KEYS, "pipeline"]), children, max_size=3)
    ),
    max_leaves=8,
)


_SECTIONS = st.sampled_from(["data", "pipeline", "output", "seed", "evaluation", "x"])


@given(document=st.dictionaries(_SECTIONS, _JSON, max_size=4))
def test_configuration_files_give_a_config_or_a_wsad_error(host: PluginHost, tmp_path_factory, document) -> None:
    path = Path(tmp_path_factory.mktemp("config")) / "run.json"
    path.write_text(json.dumps(document))
    stages = {"generator": None, "refiner": None, "segmenter": None}
    _plan_or_refuse(host, lambda: build_run_config(config_file=path, stages=stages, flags={}, assignments=()))
