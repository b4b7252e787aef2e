"""The eight shared BraTS 2018 cases (shared/docs/evaluation.md §4): counts, split and cache.

Skipped with a reason when the folder is absent (set WSAD_DATA or provide
``<repo>/../shared/data/brats2018_demo``).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from wsad_core import PluginHost
from wsad_core.data import (
    PreprocessConfig,
    SliceCache,
    SplitConfig,
    assemble,
    inspect_dataset,
    open_dataset,
    prepare_case,
    prepare_cases,
    split_cases,
    training_selection,
)
from wsad_core.data import preprocess as preprocess_module

pytestmark = pytest.mark.realdata

#: evaluation.md §4: subject, anomalous (> 200 px), healthy, ambiguous (1-200 px), brain-free, WT voxels.
TABLE = {
    "case_0": ("Brats18_CBICA_AOO_1", 53, 48, 24, 0, 68118),
    "case_1": ("Brats18_TCIA02_471_1", 65, 51, 7, 2, 168187),
    "case_2": ("Brats18_CBICA_ARW_1", 40, 69, 16, 0, 37429),
    "case_3": ("Brats18_CBICA_ASK_1", 69, 49, 7, 0, 83418),
    "case_4": ("Brats18_TCIA08_105_1", 72, 37, 13, 3, 138051),
    "case_5": ("Brats18_CBICA_AAB_1", 77, 41, 6, 1, 211979),
    "case_6": ("Brats18_CBICA_ATV_1", 53, 63, 7, 2, 87324),
    "case_7": ("Brats18_CBICA_ASA_1", 71, 43, 9, 2, 97205),
}


def test_adapter_detects_and_indexes_all_cases(real_root: Path, host: PluginHost) -> None:
    index = open_dataset(str(real_root), host)
    assert index.name == "brats-demo"
    assert not index.synthetic
    assert [c.case_id for c in index.cases] == list(TABLE)
    assert index.modalities == ("flair", "t1")
    assert {c.case_id: c.meta["subject"] for c in index.cases} == {k: v[0] for k, v in TABLE.items()}


def test_slice_counts_match_the_table(real_root: Path, host: PluginHost) -> None:
    report = inspect_dataset(open_dataset(str(real_root), host))
    for row in report.cases:
        _, anomalous, healthy, ambiguous, brain_free, voxels = TABLE[row.case_id]
        assert (row.anomalous, row.healthy, row.ambiguous, row.brain_free) == (
            anomalous,
            healthy,
            ambiguous,
            brain_free,
        ), row.case_id
        assert row.lesion_voxels == voxels
        assert row.shape == (240, 240, 155)
        assert row.kept_slices == 125
    totals = report.totals()
    assert (totals["anomalous"], totals["healthy"], totals["ambiguous"], totals["brain_free"]) == (500, 401, 89, 10)


def test_preprocessed_labels_match_the_table(real_root: Path, host: PluginHost) -> None:
    index = open_dataset(str(real_root), host)
    config = PreprocessConfig(size=64)
    prepared = prepare_cases(index, ("flair",), config, None)
    split = assemble(prepared)
    assert len(split) == 1000
    np.testing.assert_array_equal(np.unique(split.slices.slice_indices), np.arange(15, 140))
    assert int((split.lesion_pixels > 200).sum()) == 500
    assert int(((split.lesion_pixels >= 1) & (split.lesion_pixels <= 200)).sum()) == 89
    assert int((split.slices.labels == 1).sum()) == 589
    kept = training_selection(split, config)
    assert len(kept) == 500 + 401
    official = training_selection(split, config.model_copy(update={"brain_free_slices": "healthy"}))
    assert len(official) == 500 + 401 + 10
    for case in prepared:
        anomalous = int((case.lesion_pixels > 200).sum())
        assert anomalous == TABLE[case.case_id][1]


def test_split_seed_42_is_deterministic(real_root: Path, host: PluginHost) -> None:
    ids = [c.case_id for c in open_dataset(str(real_root), host).cases]
    shuffled = list(ids)
    random.Random(3).shuffle(shuffled)
    split = split_cases(shuffled, SplitConfig(seed=42))
    assert split == split_cases(ids, SplitConfig(seed=42))
    assert split.train == ("case_3", "case_4", "case_6", "case_7")
    assert split.validation == ("case_2", "case_5")  # two validation patients by default (min_validation_patients)
    assert split.test == ("case_0", "case_1")
    assert split.sha256 == "d7d61f149409358aab51ad8364d32a7e2f5e55d7a79e4a8624c2fd6f6805f640"
    old = split_cases(ids, SplitConfig(seed=42, min_validation_patients=1))
    assert old.sha256 == "b0a62ebd461c56b54dd2b5d290b775660f43ea472f0b8b7413307e2c70241463"


def test_cache_round_trips_bit_identically(
    real_root: Path, host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = open_dataset(str(real_root), host)
    one = type(index)(index.name, index.root, index.cases[:1])
    config = PreprocessConfig()
    direct = prepare_case(one.cases[0], ("flair", "t1"), config)
    assert direct.images.shape == (125, 2, 256, 256)
    assert direct.images.min() == 0.0
    assert direct.images.max() == 1.0
    cache = SliceCache(tmp_path / "cache")
    first = prepare_cases(one, ("flair", "t1"), config, cache)[0]

    def refuse(ref, **options):
        raise AssertionError(f"NIfTI decoded on a cache hit: {ref}")

    monkeypatch.setattr(preprocess_module, "load_volume", refuse)
    second = prepare_cases(one, ("flair", "t1"), config, SliceCache(tmp_path / "cache"))[0]
    for name in ("images", "brain_masks", "native_masks", "native_brain", "lesion_pixels", "slice_indices", "affine"):
        for other in (first, second):
            a, b = getattr(direct, name), getattr(other, name)
            assert a.dtype == b.dtype, name
            assert a.shape == b.shape, name
            assert a.tobytes() == np.ascontiguousarray(b).tobytes(), name
    assert second.native_shape == (240, 240, 155)
    assert second.case_id == "case_0"
