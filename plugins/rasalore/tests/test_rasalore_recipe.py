"""The faster recipe (AdamW, warm-up, cosine) as a labelled option, and the learning-curve monitor."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from wsad_rasalore._report import deviations
from wsad_rasalore._training import cosine_factor, lr_factor
from wsad_rasalore.config import RasaloreOptions
from wsad_rasalore.segmenter import RasaloreSegmenter

TINY = {"input_size": 16, "num_points": 16, "embed_dim": 16, "width_divisor": 8, "batch_size": 8}


def test_paper_recipe_is_the_default_and_reports_nothing():
    options = RasaloreOptions()
    assert (options.recipe, options.optimizer, options.schedule, options.warmup_epochs) == ("paper", "sgd", "step", 0)
    assert not [d for d in deviations(options, ("t2",), {"refined_masks": True}, None) if d.kind != "selection"]


def test_adamw_cosine_fills_unset_training_settings_and_every_one_is_a_deviation():
    options = RasaloreOptions(recipe="adamw-cosine", epochs=40)
    assert options.optimizer == "adamw"
    assert options.learning_rate == pytest.approx(1e-3)
    assert options.weight_decay == pytest.approx(1e-4)
    assert options.schedule == "cosine"
    assert options.warmup_epochs == 2  # 5 % of 40
    assert RasaloreOptions(recipe="adamw-cosine", epochs=6).warmup_epochs == 1  # at least one
    explicit = RasaloreOptions(recipe="adamw-cosine", learning_rate=3e-3, warmup_epochs=0)
    assert explicit.learning_rate == pytest.approx(3e-3)
    assert explicit.warmup_epochs == 0
    found = {d.what: d for d in deviations(options, ("t2",), {"refined_masks": True}, None)}
    for name in ("recipe", "optimizer", "learning_rate", "weight_decay", "schedule", "warmup_epochs", "epochs"):
        assert name in found, name
    assert found["recipe"].used == "adamw-cosine"
    assert found["recipe"].published == "paper"
    assert "lr_step_epochs" not in found  # unused under the cosine schedule


def test_schedules():
    # §9: 0.01 for epochs 0-20, then halved every 20 epochs.
    assert [lr_factor(e) for e in (0, 1, 20, 21, 41, 199)] == [1, 1, 1, 0.5, 0.25, 0.5**9]
    values = [cosine_factor(e, 10, warmup=2, floor=0.01) for e in range(10)]
    assert values[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert values[-1] == pytest.approx(0.01)
    assert all(a >= b for a, b in itertools.pairwise(values[2:]))
    assert cosine_factor(5, 11, 0, 0.0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert cosine_factor(0, 1) == pytest.approx(1.0)  # a single epoch runs at the full rate


def test_learning_rate_follows_the_recipe_during_training(context_factory, make_toy):
    toy = make_toy(8)
    options = RasaloreOptions(**TINY, recipe="adamw-cosine", epochs=4)
    segmenter = RasaloreSegmenter(options, context_factory())
    segmenter.fit(toy.slices, toy.noisy_masks())
    rates = segmenter.histories["bridge"].learning_rate
    assert rates == pytest.approx([1e-3 * cosine_factor(e, 4, 1, 0.01) for e in range(4)])


def test_monitor_reports_validation_maps_and_pseudo_mask_dice_each_epoch(context_factory, make_toy):
    toy, validation = make_toy(8), make_toy(6, seed=3)
    calls = []

    def learning_curve(epoch, maps, values):
        calls.append((epoch, maps.scores.shape, dict(values)))

    context = context_factory(learning_curve=learning_curve)
    segmenter = RasaloreSegmenter(RasaloreOptions(**TINY, epochs=3, min_pseudo_mask_pixels=0), context)
    held = {"validation": validation.slices, "validation_masks": validation.noisy_masks()}
    segmenter.fit(toy.slices, toy.noisy_masks(), **held)
    assert [c[0] for c in calls] == [0, 1, 2]
    assert all(shape == (6, 32, 32) for _, shape, _ in calls)
    history = segmenter.histories["bridge"]
    assert history.monitor == [values for _, _, values in calls]
    assert all(0.0 <= v["dice_generator_masks"] <= 1.0 for v in history.monitor)
    assert history.selected_epoch == 2  # monitoring chooses nothing
    # Without a core recorder nothing is computed.
    quiet = RasaloreSegmenter(RasaloreOptions(**TINY, epochs=1), context_factory(name="quiet"))
    quiet.fit(toy.slices, toy.noisy_masks(), **held)
    assert quiet.histories["bridge"].monitor == []


def test_pseudo_mask_dice_counts_only_trainable_slices():
    from wsad_core.training import mean_slice_dice

    masks = np.zeros((3, 240, 240), np.uint8)
    masks[0, :20, :20] = 1  # 400 px: kept
    masks[1, :5, :5] = 1  # 25 px: under the 200-pixel rule
    scores = masks.astype(np.float32)
    scores[1] = 0
    assert mean_slice_dice(scores, masks, 200) == pytest.approx(1.0)
    assert math.isnan(mean_slice_dice(scores, np.zeros_like(masks), 200))


def test_first_block_norm_ablation_is_a_deviation_and_reaches_the_network(context_factory, make_toy):
    options = RasaloreOptions(**TINY, first_block_norm=False, epochs=1)
    found = {d.what: d for d in deviations(options, ("t2",), {"refined_masks": True}, None)}
    assert found["first_block_norm"].used == "off"
    assert found["first_block_norm"].published == "on"
    toy = make_toy(8)
    ablated = RasaloreSegmenter(options, context_factory())
    ablated.fit(toy.slices, toy.noisy_masks())
    published = RasaloreSegmenter(RasaloreOptions(**TINY, epochs=1), context_factory(name="published"))
    published.fit(toy.slices, toy.noisy_masks())
    assert ablated.net.encoder.e1.use_norm is False
    assert ablated.net.encoder.e2.use_norm is True
    assert published.net.encoder.e1.use_norm is True
    assert not np.allclose(ablated.predict(toy.slices).scores, published.predict(toy.slices).scores)
