"""assemble and training_selection: labels, reference masks and the paper's selection rules."""

from __future__ import annotations

import numpy as np
import pytest

from wsad_core.data import PreparedCase, PreprocessConfig, assemble, slice_categories, training_selection
from wsad_core.errors import DataError
from wsad_core.types import Label


def _prepared(case_id: str, lesion_pixels: list[int], brain: list[bool], *, has_mask: bool = True, size: int = 8):
    n, hw = len(lesion_pixels), (12, 12)
    masks = np.zeros((n, *hw), bool)
    for i, count in enumerate(lesion_pixels):
        masks[i].flat[:count] = True
    native_brain = np.zeros((n, *hw), bool)
    native_brain[np.asarray(brain)] = True
    return PreparedCase(
        case_id=case_id,
        modalities=("flair",),
        images=np.full((n, 1, size, size), 0.5, np.float32),
        brain_masks=np.ones((n, size, size), bool),
        native_masks=masks,
        native_brain=native_brain,
        lesion_pixels=masks.sum(axis=(1, 2)).astype(np.int32),
        slice_indices=np.arange(10, 10 + n, dtype=np.int32),
        native_shape=(12, 12, 40),
        affine=np.eye(4),
        has_mask=has_mask,
    )


def test_assemble_labels_and_reference() -> None:
    a = _prepared("a", [0, 3, 50, 0], [True, True, True, False])
    b = _prepared("b", [100, 0], [True, True])
    split = assemble([a, b])
    assert len(split) == 6
    np.testing.assert_array_equal(split.slices.labels, [0, 1, 1, 0, 1, 0])
    assert split.slices.labels.dtype == np.int8
    assert split.slices.case_ids == ("a",) * 4 + ("b",) * 2
    np.testing.assert_array_equal(split.slices.slice_indices, [10, 11, 12, 13, 10, 11])
    np.testing.assert_array_equal(split.lesion_pixels, [0, 3, 50, 0, 100, 0])
    assert split.reference.masks.shape == (6, 12, 12)
    assert split.reference.masks[4].sum() == 100
    assert not split.reference.brain_masks[3].any()
    assert set(split.cases) == {"a", "b"}


def test_selection_rules() -> None:
    split = assemble([_prepared("a", [0, 3, 50, 0, 0], [True, True, True, False, True])])
    paper = PreprocessConfig(min_lesion_pixels=10)
    np.testing.assert_array_equal(training_selection(split, paper), [0, 2, 4])
    keep_ambiguous = paper.model_copy(update={"ambiguous_slices": "anomalous"})
    kept = training_selection(split, keep_ambiguous)
    np.testing.assert_array_equal(kept, [0, 1, 2, 4])
    assert split.slices.labels[1] == Label.ANOMALOUS
    official = paper.model_copy(update={"brain_free_slices": "healthy"})
    np.testing.assert_array_equal(training_selection(split, official), [0, 2, 3, 4])


def test_categories_partition() -> None:
    counts = np.array([0, 0, 1, 200, 201])
    brain = np.array([True, False, True, True, True])
    categories = slice_categories(counts, brain, 200)
    stacked = np.stack(list(categories.values()))
    assert (stacked.sum(axis=0) == 1).all()
    assert categories["anomalous"].tolist() == [False, False, False, False, True]
    assert categories["ambiguous"].tolist() == [False, False, True, True, False]
    assert categories["healthy"].tolist() == [True, False, False, False, False]
    assert categories["brain_free"].tolist() == [False, True, False, False, False]


def test_unlabelled_cases() -> None:
    split = assemble([_prepared("a", [0, 20], [True, True]), _prepared("u", [0, 0], [True, True], has_mask=False)])
    np.testing.assert_array_equal(split.slices.labels, [0, 1, -1, -1])
    with pytest.raises(DataError, match="without a segmentation cannot be used for training: u"):
        training_selection(split, PreprocessConfig())


def test_assemble_errors() -> None:
    with pytest.raises(DataError, match="no cases"):
        assemble([])
    with pytest.raises(DataError, match="slice size"):
        assemble([_prepared("a", [0], [True]), _prepared("b", [0], [True], size=16)])
