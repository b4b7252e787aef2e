"""Patient-level split: seeded, sorted, independent of input order, the official code's sizes."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from wsad_core.data import SplitConfig, split_cases
from wsad_core.errors import DataError

IDS = [f"case_{i:03d}" for i in range(20)]


def test_deterministic_and_independent_of_input_order() -> None:
    first = split_cases(IDS, SplitConfig())
    shuffled = list(IDS)
    random.Random(7).shuffle(shuffled)
    second = split_cases(reversed(shuffled), SplitConfig())
    assert first == second
    assert first.sha256 == second.sha256


def test_official_rule_on_sorted_ids() -> None:
    config = SplitConfig(validation_fraction=0.0)
    split = split_cases(IDS, config)
    order = sorted(IDS)
    random.Random(42).shuffle(order)
    assert split.train == tuple(sorted(order[:16]))
    assert split.test == tuple(sorted(order[16:]))
    assert split.validation == ()


def test_validation_comes_from_training_patients() -> None:
    split = split_cases(IDS, SplitConfig(validation_fraction=0.1))
    order = sorted(IDS)
    random.Random(42).shuffle(order)
    assert split.validation == tuple(sorted(order[14:16]))
    assert split.train == tuple(sorted(order[:14]))
    assert len(split.test) == 4
    assert not set(split.train) & set(split.validation)
    assert set(split.train) | set(split.validation) | set(split.test) == set(IDS)


def test_eight_cases_give_4_2_2_by_default_and_5_1_2_with_the_old_rule() -> None:
    ids = [f"case_{i}" for i in range(8)]
    split = split_cases(ids, SplitConfig())
    assert (len(split.train), len(split.validation), len(split.test)) == (4, 2, 2)
    old = split_cases(ids, SplitConfig(min_validation_patients=1))
    assert (len(old.train), len(old.validation), len(old.test)) == (5, 1, 2)
    # The larger validation set only takes training patients: the test patients do not change.
    assert split.test == old.test
    assert set(old.validation) <= set(split.validation)


@pytest.mark.parametrize(("n", "sizes"), [(4, (2, 1, 1)), (5, (3, 1, 1)), (6, (3, 1, 2)), (10, (6, 2, 2))])
def test_a_second_validation_patient_only_when_three_training_patients_remain(n, sizes) -> None:
    split = split_cases([f"case_{i}" for i in range(n)], SplitConfig())
    assert (len(split.train), len(split.validation), len(split.test)) == sizes


def test_seeds_differ() -> None:
    assert split_cases(IDS, SplitConfig(seed=1)).test != split_cases(IDS, SplitConfig(seed=2)).test


def test_folds_partition_the_cases() -> None:
    ids = [f"case_{i}" for i in range(8)]
    tests = [split_cases(ids, SplitConfig(folds=4, fold=f)) for f in range(4)]
    assert all(len(s.test) == 2 for s in tests)
    assert sorted(c for s in tests for c in s.test) == sorted(ids)
    for s in tests:
        assert len(s.train) + len(s.validation) == 6
        assert len(s.validation) == 2
        assert not set(s.test) & (set(s.train) | set(s.validation))


def test_sha256_and_to_dict() -> None:
    split = split_cases(IDS)
    payload = split.to_dict()
    assert json.loads(json.dumps(payload)) == payload
    canonical = json.dumps(
        {"train": payload["train"], "validation": payload["validation"], "test": payload["test"]},
        separators=(",", ":"),
    )
    assert payload["sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert payload["config"]["seed"] == 42
    assert split.part_of(split.test[0]) == "test"


def test_errors() -> None:
    with pytest.raises(DataError, match="cannot split 1 case"):
        split_cases(["only"])
    with pytest.raises(DataError, match="duplicate case ids"):
        split_cases(["a", "a", "b"])
    with pytest.raises(DataError, match="leaves 0 training and 2 test"):
        split_cases(["a", "b"], SplitConfig(test_fraction=0.6))
    with pytest.raises(DataError, match="4 folds need at least 4 cases"):
        split_cases(["a", "b", "c"], SplitConfig(folds=4))


def test_explicit_test_and_validation_lists_win_over_fractions_and_are_checked():
    ids = [f"p{i}" for i in range(8)]
    split = split_cases(ids, SplitConfig(test=("p7", "p0"), validation=("p3",)))
    assert split.test == ("p0", "p7")
    assert split.validation == ("p3",)
    assert set(split.train) == set(ids) - {"p0", "p7", "p3"}
    chosen = split_cases(ids, SplitConfig(test=("p1",)))
    assert chosen.test == ("p1",)
    assert chosen.validation, "validation still chosen from the training patients by the fraction rule"
    with pytest.raises(DataError, match="does not have: nope"):
        split_cases(ids, SplitConfig(test=("nope",)))
    with pytest.raises(ValueError, match="both in test and validation: p1"):
        SplitConfig(test=("p1",), validation=("p1",))
    with pytest.raises(ValueError, match="either folds or an explicit test list"):
        SplitConfig(test=("p1",), folds=4)
