"""Load, preprocess and split the run's data."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wsad_core.data._paths import default_cache_root
from wsad_core.data.assemble import SplitSlices, assemble, training_selection
from wsad_core.data.cache import SliceCache, prepare_cases
from wsad_core.data.resolve import open_dataset
from wsad_core.data.split import Split, split_cases
from wsad_core.errors import DataError
from wsad_core.results import check_case_file_stems

if TYPE_CHECKING:
    from wsad_core.config import DataConfig
    from wsad_core.context import ProgressReporter
    from wsad_core.data.index import DatasetIndex
    from wsad_core.plugins import PluginHost
    from wsad_core.types import SliceSet

__all__ = ["RunData", "load_run_data"]

log = logging.getLogger("wsad.data")


@dataclass(frozen=True, slots=True)
class RunData:
    """The run's slices per split.

    Attributes:
        index: the dataset.
        split: patient lists.
        train, validation, test: all slices of each split's patients (validation may be
            ``None`` when the split has no validation patients).
        train_view: training slices after the preprocessing config's selection rules.
        validation_view: validation slices after the same rules, or ``None``.
        train_positions: positions of ``train_view``'s slices in ``train.slices``.
        validation_positions: positions of ``validation_view``'s slices in ``validation.slices``.
    """

    index: DatasetIndex
    split: Split
    train: SplitSlices
    validation: SplitSlices | None
    test: SplitSlices
    train_view: SliceSet
    validation_view: SliceSet | None
    train_positions: np.ndarray
    validation_positions: np.ndarray | None = None


def load_run_data(config: DataConfig, host: PluginHost, progress: ProgressReporter) -> RunData:
    """Open, preprocess (through the slice cache), split and assemble the dataset.

    Raises:
        DataError: for unusable data (missing modalities, case ids that would share output files,
            no training slices, ...).
    """
    index = open_dataset(config.source, host, adapter=config.adapter, options=config.adapter_options)
    index.require_modalities(config.modalities)
    cases = index.cases[: config.max_cases] if config.max_cases else index.cases
    indexes = [dataclasses.replace(index, cases=cases)]
    split_config = config.split
    if config.test_source is not None:  # cross-dataset: every case of the second dataset is a test patient
        tested = open_dataset(
            config.test_source, host, adapter=config.test_adapter, options=config.test_adapter_options
        )
        tested.require_modalities(config.modalities)
        shared = sorted({c.case_id for c in cases} & {c.case_id for c in tested.cases})
        if shared:
            raise DataError(
                f"{config.test_source} and {config.source} share case ids: {', '.join(shared[:5])}",
                hint="a patient cannot be both trained on and tested; rename the cases or remove them from one",
            )
        indexes.append(tested)
        split_config = config.split.model_copy(update={"test": tuple(c.case_id for c in tested.cases)})
    all_cases = [c for part in indexes for c in part.cases]
    # Before any preprocessing or training: maps and overlays are written per case at the end.
    check_case_file_stems(c.case_id for c in all_cases)
    split = split_cases([c.case_id for c in all_cases], split_config)
    cache = SliceCache(default_cache_root() / "slices") if config.cache else None
    prepared = [
        case for part in indexes for case in prepare_cases(part, config.modalities, config.preprocess, cache, progress)
    ]
    by_id = {case.case_id: case for case in prepared}
    cases = all_cases

    def part(ids: tuple[str, ...]) -> SplitSlices | None:
        return assemble([by_id[i] for i in ids]) if ids else None

    train, validation, test = part(split.train), part(split.validation), part(split.test)
    if train is None or test is None:
        raise DataError(f"split of {len(cases)} cases left no training or no test patients")
    train_positions = training_selection(train, config.preprocess)
    train_view = train.slices.select(train_positions)
    validation_positions = training_selection(validation, config.preprocess) if validation else None
    validation_view = validation.slices.select(validation_positions) if validation else None
    if len(train_view) == 0:
        raise DataError("no training slices left after the preprocessing selection rules")
    log.info(
        "data: %s (%d cases: %d train, %d validation, %d test); %d training slices",
        index.name,
        len(cases),
        len(split.train),
        len(split.validation),
        len(split.test),
        len(train_view),
    )
    return RunData(
        index, split, train, validation, test, train_view, validation_view, train_positions, validation_positions
    )
