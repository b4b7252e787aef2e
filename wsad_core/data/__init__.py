"""Data: dataset adapters, NIfTI loading, preprocessing, slice cache, splits and synthetic data.

Typical flow (what ``wsad run`` does)::

    index = open_dataset("demo", host)                         # or a BraTS folder
    split = split_cases([c.case_id for c in index.cases], SplitConfig())
    cases = prepare_cases(index, ("flair",), PreprocessConfig(), SliceCache())
    by_id = {c.case_id: c for c in cases}
    train = assemble([by_id[i] for i in split.train])
    keep = training_selection(train, PreprocessConfig())       # positions to train on

Heavy dependencies (torch, nibabel, scipy, nilearn) are imported on first use.
"""

from __future__ import annotations

from wsad_core.data._nifti import Volume, check_same_grid, load_volume, read_header
from wsad_core.data._paths import default_cache_root, default_slice_cache_root
from wsad_core.data.assemble import SplitSlices, assemble, slice_categories, training_selection
from wsad_core.data.cache import PREPROCESS_VERSION, SliceCache, prepare_cases
from wsad_core.data.config import PreprocessConfig, SplitConfig
from wsad_core.data.frames import resize_stack, to_model, to_native
from wsad_core.data.index import MODALITIES, CaseRecord, DatasetIndex, VolumeRef
from wsad_core.data.inspect import CaseReport, DatasetReport, inspect_dataset
from wsad_core.data.preprocess import PreparedCase, normalise_volume, prepare_case
from wsad_core.data.resolve import DEMO_SOURCE, open_dataset
from wsad_core.data.split import Split, split_cases
from wsad_core.data.synthetic import SyntheticCase, make_synthetic_case

__all__ = [
    "DEMO_SOURCE",
    "MODALITIES",
    "PREPROCESS_VERSION",
    "CaseRecord",
    "CaseReport",
    "DatasetIndex",
    "DatasetReport",
    "PreparedCase",
    "PreprocessConfig",
    "SliceCache",
    "Split",
    "SplitConfig",
    "SplitSlices",
    "SyntheticCase",
    "Volume",
    "VolumeRef",
    "assemble",
    "check_same_grid",
    "default_cache_root",
    "default_slice_cache_root",
    "inspect_dataset",
    "load_volume",
    "make_synthetic_case",
    "normalise_volume",
    "open_dataset",
    "prepare_case",
    "prepare_cases",
    "read_header",
    "resize_stack",
    "slice_categories",
    "split_cases",
    "to_model",
    "to_native",
    "training_selection",
]
