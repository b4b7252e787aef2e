"""Patient-level train/validation/test split: sorted ids, seeded shuffle, never filesystem order.

The official RASALoRE code shuffles ``os.listdir`` output with ``random.seed(42)`` and
keeps the first ``int(0.8·N)`` patients for training (shared/docs/rasalore.md §2, defect
#2). Here the ids are sorted first, so the split depends only on the ids and the seed.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wsad_core.data.config import SplitConfig
from wsad_core.errors import DataError

__all__ = ["Split", "split_cases"]

# A larger validation set is only taken when the training part keeps this many patients.
_MIN_TRAIN_WITH_LARGER_VALIDATION = 3


@dataclass(frozen=True, slots=True)
class Split:
    """Case ids of each part, each sorted.

    Attributes:
        train: training patients (validation patients excluded).
        validation: patients for thresholds and model selection, taken from training.
        test: held-out patients.
        config: the settings that produced the split.
        sha256: hash of the canonical JSON of the three lists (recorded with runs).
    """

    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]
    config: SplitConfig
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``split.json``."""
        return {
            "train": list(self.train),
            "validation": list(self.validation),
            "test": list(self.test),
            "config": self.config.model_dump(mode="json"),
            "sha256": self.sha256,
        }

    def part_of(self, case_id: str) -> str:
        """``"train"``, ``"validation"`` or ``"test"``.

        Raises:
            DataError: the case is in no part.
        """
        for name in ("train", "validation", "test"):
            if case_id in getattr(self, name):
                return name
        raise DataError(f"case {case_id!r} is not in the split")


def _digest(train: tuple[str, ...], validation: tuple[str, ...], test: tuple[str, ...]) -> str:
    canonical = json.dumps({"train": train, "validation": validation, "test": test}, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def split_cases(case_ids: Iterable[str], config: SplitConfig | None = None) -> Split:
    """Split patients into train, validation and test.

    Sorted ids are shuffled with ``random.Random(seed)``. Explicit lists (``test``, ``validation``) win
    over fractions and folds. Hold-out: the first
    ``int(N·(1 - test_fraction))`` go to training. K-fold: the shuffled ids are cut into
    ``folds`` contiguous chunks and chunk ``fold`` is the test set. Validation is the
    last ``max(1, round(validation_fraction·n_train))`` of the shuffled training ids when
    ``validation_fraction > 0`` and at least two training patients exist, raised to
    ``min_validation_patients`` when at least 3 training patients remain.

    Args:
        case_ids: unique patient ids, in any order.
        config: split settings (defaults: the paper's 80/20 with seed 42).

    Returns:
        The split.

    Raises:
        DataError: fewer than two cases, duplicate ids, or an empty train or test part.
    """
    config = config or SplitConfig()
    ids = sorted(case_ids)
    if len(set(ids)) != len(ids):
        raise DataError(f"duplicate case ids in the split input: {sorted({i for i in ids if ids.count(i) > 1})[:5]}")
    if len(ids) < 2:
        raise DataError(f"cannot split {len(ids)} case(s) into train and test", hint="a split needs at least 2 cases")
    shuffled = list(ids)
    random.Random(config.seed).shuffle(shuffled)
    named = [*(config.test or ()), *(config.validation or ())]
    unknown = sorted(set(named) - set(ids))
    if unknown:
        raise DataError(
            f"split names patients the dataset does not have: {', '.join(unknown[:5])}",
            hint="use case ids as `wsad data inspect` lists them",
        )
    if config.test is not None:
        test = [i for i in shuffled if i in set(config.test)]
        train = [i for i in shuffled if i not in set(config.test)]
    elif config.folds is not None:
        if config.folds > len(ids):
            raise DataError(
                f"{config.folds} folds need at least {config.folds} cases, got {len(ids)}", hint="use fewer folds"
            )
        bounds = [round(i * len(ids) / config.folds) for i in range(config.folds + 1)]
        test = shuffled[bounds[config.fold] : bounds[config.fold + 1]]
        train = shuffled[: bounds[config.fold]] + shuffled[bounds[config.fold + 1] :]
    else:
        # Tiny epsilon: 0.8 * 10 must give 8 even if the product rounds to 7.999….
        n_train = int(len(ids) * (1.0 - config.test_fraction) + 1e-9)
        train, test = shuffled[:n_train], shuffled[n_train:]
    if not train or not test:
        raise DataError(
            f"split of {len(ids)} cases with test_fraction={config.test_fraction} leaves "
            f"{len(train)} training and {len(test)} test cases",
            hint="change test_fraction or add cases",
        )
    validation: list[str] = []
    if config.validation is not None:
        validation = [i for i in train if i in set(config.validation)]
        train = [i for i in train if i not in set(config.validation)]
    elif config.validation_fraction > 0 and len(train) >= 2:
        n_validation = max(1, round(config.validation_fraction * len(train)))
        if n_validation < config.min_validation_patients <= len(train) - _MIN_TRAIN_WITH_LARGER_VALIDATION:
            n_validation = config.min_validation_patients
        n_validation = min(n_validation, len(train) - 1)
        validation, train = train[-n_validation:], train[:-n_validation]
    parts = tuple(sorted(part) for part in (train, validation, test))
    train_t, validation_t, test_t = (tuple(p) for p in parts)
    return Split(train_t, validation_t, test_t, config, _digest(train_t, validation_t, test_t))
