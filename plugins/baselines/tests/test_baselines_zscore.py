from __future__ import annotations

import numpy as np
import pytest
from wsad_baselines.config import ZScoreOptions
from wsad_baselines.zscore import ZScoreGenerator

from wsad_core import ContractError, DataError, Label, SliceSet


def _fitted(make_toy, context, **options):
    generator = ZScoreGenerator(ZScoreOptions(**options), context)
    generator.fit(make_toy(24, seed=1).slices)
    return generator


def test_fit_matches_healthy_brain_statistics(context_factory, make_toy):
    train = make_toy(24, seed=1, channels=2).slices
    generator = ZScoreGenerator(ZScoreOptions(), context_factory())
    generator.fit(train)
    healthy = train.labels == Label.HEALTHY
    for c in range(2):
        pixels = train.images[healthy, c][train.brain_masks[healthy]].astype(np.float64)
        assert generator.mean_[c] == pytest.approx(pixels.mean(), rel=1e-9)
        assert generator.std_[c] == pytest.approx(pixels.std(), rel=1e-6)
    assert generator.provenance["healthy_slices"] == 12


def test_outputs_have_the_contract_shapes_and_ranges(context_factory, make_toy):
    generator = _fitted(make_toy, context_factory())
    test = make_toy(10, seed=2, hidden=True).slices
    out = generator.generate(test)
    assert out.soft.shape == out.masks.shape == (10, 48, 48)
    assert out.soft.dtype == np.float32
    assert out.masks.dtype == np.bool_
    assert out.soft.min() >= 0.0
    assert out.soft.max() <= 1.0
    outside = ~test.brain_masks
    assert not out.soft[outside].any()
    assert not out.masks[outside].any()
    assert out.source == "zscore"


def test_flags_the_bright_blob(context_factory, make_toy, dice):
    generator = _fitted(make_toy, context_factory())
    toy = make_toy(16, seed=3, hidden=True)
    out = generator.generate(toy.slices)
    # Measured 0.91-0.92 (seeds 1-5; an all-brain mask scores about 0.06): 0.75 leaves a wide margin.
    assert dice(out.masks, toy.truth) > 0.75
    # Soft map crosses 0.5 at the threshold: it ranks lesion pixels above healthy tissue.
    assert out.soft[toy.truth].mean() > 0.9
    assert out.soft[toy.slices.brain_masks & ~toy.truth].mean() < 0.1


def test_healthy_labelled_slices_get_empty_masks(context_factory, make_toy):
    generator = _fitted(make_toy, context_factory())
    toy = make_toy(8, seed=4)
    labels = np.full(8, Label.HEALTHY, np.int8)  # the blobs are there, the weak label says healthy
    relabelled = SliceSet(
        toy.slices.images,
        toy.slices.brain_masks,
        labels,
        toy.slices.case_ids,
        toy.slices.slice_indices,
        toy.slices.modalities,
    )
    assert generator.generate(toy.slices).masks.any()
    out = generator.generate(relabelled)
    assert not out.masks.any()
    assert not out.soft.any()


def test_polarity(context_factory, make_toy, dice):
    dark = make_toy(8, seed=5, contrast=-0.3, hidden=True)
    hyper = _fitted(make_toy, context_factory(), polarity="hyper").generate(dark.slices)
    hypo = _fitted(make_toy, context_factory(), polarity="hypo").generate(dark.slices)
    both = _fitted(make_toy, context_factory(), polarity="both").generate(dark.slices)
    # Measured on dark discs (seeds 1-5): hyper 0.0, hypo 0.94-0.95, both 0.94-0.95.
    assert dice(hyper.masks, dark.truth) < 0.05
    assert dice(hypo.masks, dark.truth) > 0.75
    assert dice(both.masks, dark.truth) > 0.75


def test_small_components_are_removed(context_factory, make_toy, dice):
    toy = make_toy(2, seed=6, hidden=True)
    images = toy.slices.images.copy()
    images[0, 0, 24, 20:22] = 1.0  # a 2-pixel bright speck on a healthy slice
    speck = SliceSet(
        images,
        toy.slices.brain_masks,
        toy.slices.labels,
        toy.slices.case_ids,
        toy.slices.slice_indices,
        toy.slices.modalities,
    )
    kept = _fitted(make_toy, context_factory(), smoothing_sigma=0.0, min_component_pixels=0).generate(speck)
    removed = _fitted(make_toy, context_factory(), smoothing_sigma=0.0, min_component_pixels=16).generate(speck)
    assert kept.masks[0, 24, 20:22].all()
    assert not removed.masks[0].any()
    assert dice(removed.masks[1], toy.truth[1]) > 0.75  # the real lesion survives


def test_mask_is_the_thresholded_z_map(context_factory, make_toy):
    generator = _fitted(make_toy, context_factory(), min_component_pixels=0)
    test = make_toy(6, seed=7, hidden=True).slices
    z = generator.z_map(test)
    out = generator.generate(test)
    assert np.array_equal(out.masks, (z >= 2.0) & test.brain_masks)
    inside = test.brain_masks
    order = np.argsort(z[inside])
    assert np.all(np.diff(out.soft[inside][order]) >= 0)  # monotone in z


def test_deterministic(context_factory, make_toy):
    test = make_toy(6, seed=8, hidden=True).slices
    a = _fitted(make_toy, context_factory()).generate(test)
    b = _fitted(make_toy, context_factory()).generate(test)
    assert np.array_equal(a.soft, b.soft)
    assert np.array_equal(a.masks, b.masks)


def test_errors(context_factory, make_toy):
    toy = make_toy(6, seed=9)
    anomalous_only = toy.slices.select(toy.slices.where_label(Label.ANOMALOUS))
    generator = ZScoreGenerator(ZScoreOptions(), context_factory())
    with pytest.raises(ContractError, match="before fit"):
        generator.generate(toy.slices)
    with pytest.raises(DataError, match="labelled healthy") as caught:
        generator.fit(anomalous_only)
    assert caught.value.hint
    generator.fit(toy.slices)
    with pytest.raises(ContractError, match="modalities"):
        generator.generate(make_toy(4, channels=2).slices)
