"""A reduced RASALoRE trained with the published SGD recipe learns the synthetic lesions.

Recipe (§9): SGD, lr 0.01, momentum 0.9, no weight decay, lr halved every 20 epochs; 60 epochs
(0.01, 0.005, 0.0025), the most that fit a CI budget. Reduced network (a `setting` deviation):
16² input (32² output), k = 64 candidate points, d = 16, convolution widths / 4; batch 8, no
augmentation; 64 anomalous 32² toy slices whose pseudo-masks are enlarged, shifted discs with a
spurious blob in 70 % of them (Dice 0.53-0.60 against the truth): 8 steps per epoch, 480 steps.

What "learning" means here, per seed, against the same network before its first step:

* the training loss falls by more than 30 %;
* pixel AUROC against the true lesions above chance and the untrained network's (≈ 0.5);
* Dice at 0.5 against the true lesions well above the untrained network's (≈ 0.09);
* the maps follow each slice's own lesion: AUROC against the slice's truth above AUROC against the
  truth of another slice (a network that learnt only where lesions usually lie, from the
  pseudo-masks' location prior, scores both alike).

Measured through fit/predict on 12 run seeds (0-11) and 2 further LoRE draws (lore_seed 12345 with
run seeds 0 and 8), 1 intra-op thread, 8-16 s per seed: AUROC 0.64-0.99 (12 of 14 above 0.89),
untrained 0.47-0.52; Dice 0.26-0.78 (untrained 0.08-0.10); own-slice minus other-slice AUROC
0.056-0.36; loss ratio last/first epoch 0.55-0.64. The medians over seeds are checked with
margins that hold for every 4 of those 14 runs (worst 4: median AUROC 0.82, Dice 0.48, gap 0.083).

Why this configuration (numbers in the plugin README, "SGD on the toy"): with k = 16 points the
official LoRE (integer frequencies over coordinates spanning [-1, 1)) gives points half a grid apart
identical codes, so RASA sees 4-6 distinct queries for 16 points, and SGD often learnt only the
location prior or collapsed; k = 64 and wider convolutions (Dropout2d on 4-channel maps is heavy
noise) made SGD learn on every seed tried.
"""

from __future__ import annotations

import numpy as np
import pytest
from wsad_rasalore.config import RasaloreOptions
from wsad_rasalore.segmenter import RasaloreSegmenter

SGD = {
    "input_size": 16,
    "num_points": 64,
    "embed_dim": 16,
    "width_divisor": 4,
    "batch_size": 8,
    "augment": False,
    "epochs": 60,
    # The published recipe, spelt out although these are the defaults.
    "optimizer": "sgd",
    "learning_rate": 0.01,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "lr_step_epochs": 20,
    "lr_decay": 0.5,
}


def auroc(scores: np.ndarray, truth: np.ndarray) -> float:
    """Pixel AUROC (Mann-Whitney, ties averaged) of ``scores`` for the boolean ``truth``."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(scores.size)
    ranks[order] = np.arange(1, scores.size + 1)
    sorted_scores = scores[order]
    # Average the ranks of tied scores.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], scores.size]
    for start, end in zip(starts, ends, strict=True):
        if end - start > 1:
            ranks[order[start:end]] = (start + end + 1) / 2
    positives = int(truth.sum())
    negatives = truth.size - positives
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def measure(seed: int, make_toy, dice, context_factory) -> dict[str, float]:
    """Train one seed with the recipe; scores of the untrained and trained network on held-out slices."""
    train, test = make_toy(64, seed=seed), make_toy(16, seed=100 + seed, hidden=True)
    segmenter = RasaloreSegmenter(RasaloreOptions(**SGD), context_factory(seed=seed, name=f"seed{seed}"))
    # The network fit() starts from (same seeds, same LoRE), before any step.
    segmenter.modalities = ("flair",)
    segmenter.lore_seeds = {"flair": segmenter._lore_seed("flair")}
    segmenter.net = segmenter._build(segmenter.modalities)
    untrained = segmenter.predict(test.slices).scores
    segmenter.fit(train.slices, train.noisy_masks())
    maps = segmenter.predict(test.slices).scores
    brain = test.slices.brain_masks
    other = np.roll(test.truth, 1, axis=0)  # each slice paired with the next slice's lesion
    both = brain & np.roll(brain, 1, axis=0)
    losses = segmenter.histories["bridge"].train_loss
    return {
        "auroc": auroc(maps[brain], test.truth[brain]),
        "auroc_untrained": auroc(untrained[brain], test.truth[brain]),
        "auroc_other_slice": auroc(maps[both], other[both]),
        "dice": dice(maps > 0.5, test.truth),
        "dice_untrained": dice(untrained > 0.5, test.truth),
        "loss_ratio": losses[-1] / losses[0],
    }


def check_seed(m: dict[str, float]) -> None:
    """The per-seed floors (they hold for every run measured, failures of the lottery included)."""
    assert m["loss_ratio"] < 0.7
    assert m["auroc"] > 0.6
    assert m["auroc"] > m["auroc_untrained"] + 0.1
    assert m["dice"] > m["dice_untrained"] + 0.15
    assert m["auroc"] > m["auroc_other_slice"]  # the slice's own lesion, not a location prior


def check_medians(rows: list[dict[str, float]], auroc_floor: float, dice_floor: float, gap_floor: float) -> None:
    """Medians over seeds: one unlucky initialisation or LoRE draw cannot decide the result."""
    assert np.median([m["auroc"] for m in rows]) > auroc_floor
    assert np.median([m["dice"] for m in rows]) > dice_floor
    assert np.median([m["auroc"] - m["auroc_other_slice"] for m in rows]) > gap_floor


def test_auroc_matches_its_definition():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    truth = np.array([False, True, False, True, False])
    # Pairs (positive, negative): (0.4, 0.1) 1, (0.4, 0.35) 1, (0.4, 0.4) 0.5, (0.8, *) 3 → 5.5 of 6.
    assert auroc(scores, truth) == pytest.approx(5.5 / 6)


def test_sgd_recipe_learns_the_lesions_on_every_seed(context_factory, make_toy, dice):
    rows = [measure(seed, make_toy, dice, context_factory) for seed in range(4)]
    for m in rows:
        check_seed(m)
    check_medians(rows, auroc_floor=0.8, dice_floor=0.45, gap_floor=0.05)


@pytest.mark.slow
def test_sgd_recipe_learns_the_lesions_over_many_seeds(context_factory, make_toy, dice):
    # 12 seeds (about 2-3 min): the per-seed floors, and the medians measured over seeds 0-11 with a
    # margin (measured: AUROC 0.98, Dice 0.74, own-minus-other-slice AUROC 0.29).
    rows = [measure(seed, make_toy, dice, context_factory) for seed in range(12)]
    for m in rows:
        check_seed(m)
    check_medians(rows, auroc_floor=0.9, dice_floor=0.6, gap_floor=0.2)
