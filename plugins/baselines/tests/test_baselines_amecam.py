from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from wsad_baselines._amecam_augment import simclr_view
from wsad_baselines._amecam_losses import aggregation_loss, multi_exit_bce, nt_xent, sim_max, sim_min
from wsad_baselines._amecam_train import auc
from wsad_baselines.amecam import AmeCamGenerator
from wsad_baselines.config_amecam import AmeCamOptions
from wsad_baselines.torch_amecam import AttentionAggregator, MultiExitClassifier, ResNet18IN, minmax

from wsad_core import BuildContext, ConfigError, ContractError, DataError, Label

# Width-8 ResNet-18 at the toy's 64², one SimCLR epoch, ten classifier epochs, two aggregation epochs.
TINY = {
    "width": 8,
    "simclr_epochs": 1,
    "simclr_batch_size": 16,
    "classifier_epochs": 10,
    "classifier_batch_size": 8,
    "classifier_learning_rate": 1e-3,
    "aggregation_epochs": 2,
    "aggregation_batch_size": 8,
}


def test_backbone_stage_sizes_and_exits():
    backbone = ResNet18IN(3, 8).eval()
    with torch.no_grad():
        shapes = [tuple(f.shape[-2:]) for f in backbone(torch.rand(1, 3, 240, 240))]
    assert shapes == [(60, 60), (30, 30), (15, 15), (8, 8)]  # §1 at 240²
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in backbone.modules())
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms
    assert not any(n.affine for n in norms)
    full = ResNet18IN(3, 64)
    assert 11_000_000 < sum(p.numel() for p in full.parameters()) < 11_300_000  # ResNet-18 without fc
    classifier = MultiExitClassifier(3, 8).eval()
    with torch.no_grad():
        logits, cams = classifier.upsampled_cams(torch.rand(2, 3, 64, 64))
    assert logits.shape == (2, 4)
    assert cams.shape == (2, 4, 64, 64)


def test_losses():
    torch.manual_seed(0)
    z = torch.randn(8, 16)
    assert nt_xent(z, z, 0.07) < nt_xent(z, torch.randn(8, 16), 0.07)
    assert torch.isfinite(nt_xent(z * 50, z * 50, 0.07, normalize=False))
    logits, labels = torch.randn(6, 4), torch.tensor([0.0, 1, 0, 1, 1, 0])
    expected = sum(
        w * torch.nn.functional.binary_cross_entropy_with_logits(logits[:, i], labels)
        for i, w in enumerate((0.25, 0.5, 0.75, 1.0))
    )
    assert multi_exit_bce(logits, labels, (0.25, 0.5, 0.75, 1.0)) == pytest.approx(float(expected))
    same = torch.ones(4, 10)
    # Every cosine clamps to 0.9995; row ranks 0..3 weigh exp(-0.25 (rank - 1)).
    weights = np.exp(-0.25 * (np.arange(4) - 1)).mean()
    assert float(sim_max(same, 0.25)) == pytest.approx(-np.log(0.9995) * weights, rel=1e-4)
    assert float(sim_min(same, same)) == pytest.approx(-np.log(1 - 0.9995), rel=1e-4)  # clamped cosine
    assert float(sim_min(same, -same)) == pytest.approx(-np.log(1 - 5e-4), rel=1e-3)
    grey, aggregated = torch.rand(3, 1, 16, 16), torch.rand(3, 1, 16, 16)
    assert torch.isfinite(aggregation_loss(grey, aggregated, 0.25))
    maps = minmax(torch.rand(2, 4, 8, 8) * 5 - 2)
    assert float(maps.min()) >= 0
    assert float(maps.max()) <= 1
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)


def test_simclr_views_are_seeded_and_in_range():
    images = torch.rand(6, 3, 32, 32)
    a = simclr_view(images, torch.Generator().manual_seed(0))
    b = simclr_view(images, torch.Generator().manual_seed(0))
    c = simclr_view(images, torch.Generator().manual_seed(1))
    assert a.shape == images.shape
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert float(a.min()) >= 0
    assert float(a.max()) <= 1


def test_a_few_steps_lower_the_losses(make_toy):
    toy = make_toy(16, 64, seed=0)
    images = torch.from_numpy(toy.slices.images).expand(-1, 3, -1, -1)
    labels = torch.from_numpy(toy.slices.labels.astype(np.float32))
    torch.manual_seed(0)
    classifier = MultiExitClassifier(3, 8)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-3)
    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = multi_exit_bce(classifier(images)[0], labels, (0.25, 0.5, 0.75, 1.0))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    # Measured last/first 0.72-0.77 after 10 steps (seeds 0-2); no step keeps 1.
    assert losses[-1] < 0.9 * losses[0]
    with torch.no_grad():
        _, cams = classifier.eval().upsampled_cams(images)
    aggregator = AttentionAggregator()
    optimizer = torch.optim.Adam(aggregator.parameters(), lr=1e-2)
    grey = images.mean(dim=1, keepdim=True)
    losses = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = aggregation_loss(grey, aggregator(grey, cams), 0.25)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    # Measured last/first 0.10-0.29 after 6 steps (seeds 0-2).
    assert losses[-1] < 0.5 * losses[0]


# Seeds of the map-quality tests. One seed is no test at this size: with 64 training slices the
# test AUROC ranged 0.45-0.91 over 24 seeds (median 0.65; 0.30-0.94, median 0.61, with 32), and
# the same seed gives another map where float reductions run in another order (thread count, CPU).
SEEDS = tuple(range(9))


@dataclass(frozen=True)
class Fitted:
    generator: AmeCamGenerator
    train: object
    validation: object
    test: object


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, make_toy):
    """One TINY generator per seed on 64 training slices (about 3 s each on one CPU thread)."""
    # One thread: these tiny convolutions gain nothing from a second one, and on a shared 2-core
    # runner the oversubscribed threads made the fits 5-7x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    runs = []
    try:
        for seed in SEEDS:
            train, validation = make_toy(64, 64, seed=100 + seed), make_toy(16, 64, seed=200 + seed)
            work = tmp_path_factory.mktemp(f"ame-cam-{seed}")
            generator = AmeCamGenerator(AmeCamOptions(**TINY), BuildContext(work_dir=work, seed=seed))
            generator.fit(train.slices, validation=validation.slices)
            runs.append(Fitted(generator, train, validation, make_toy(16, 64, seed=300 + seed, hidden=True)))
    finally:
        torch.set_num_threads(threads)
    return runs


def test_map_overlaps_the_lesion_better_than_chance_over_seeds(fitted):
    from sklearn.metrics import roc_auc_score

    aurocs, gaps = [], []
    for run in fitted:
        soft, truth, brain = run.generator.generate(run.test.slices).soft, run.test.truth, run.test.slices.brain_masks
        aurocs.append(roc_auc_score(truth[brain], soft[brain]))
        gaps.append(soft[truth].mean() - soft[brain & ~truth].mean())
    # Chance is 0.5: a constant map scores exactly that, a random one 0.5 +- 0.01, and so does, in the median,
    # a map whose sign is a coin flip. Measured here (one thread): AUROC 0.58-0.82, median 0.66; lesion minus
    # background 0.05-0.23, median 0.07. With a seed below 0.55 in about 1 of 7 (31 fits, 1 and 2 threads), a
    # median of 9 falls below 0.55 with odds of about 0.3 %.
    assert np.median(aurocs) > 0.55, aurocs
    assert np.median(gaps) > 0.03, gaps


def test_generated_outputs_follow_the_contract(fitted, make_toy):
    run = fitted[0]
    generator, test = run.generator, run.test
    out = generator.generate(test.slices)
    assert out.soft.shape == out.masks.shape == (16, 64, 64)
    assert out.soft.dtype == np.float32
    assert np.array_equal(out.masks, out.soft > 0.5)
    assert not out.soft[~test.slices.brain_masks].any()
    facts = generator.provenance
    assert facts["postprocess"]["polarity"] in ("direct", "inverted")
    assert set(facts["polarity_check"]) == {"slices", "direct", "inverted"}
    assert "polarity" in " ".join(generator.notes)
    # TINY's changed fields are `setting` deviations; the toy's 64² flair slices are not the paper's 240² T2.
    found = {d.what: d for d in generator.deviations}
    assert {w for w, d in found.items() if d.kind == "setting"} == {
        k for k, v in TINY.items() if v != AmeCamOptions.model_fields[k].default
    }
    assert (found["slice size"].kind, found["slice size"].used) == ("data", "64 px")
    assert (found["modality"].used, found["modality"].published) == ("flair", "t2")
    assert found["stage-1 checkpoint"].used == "best slice AUC on the validation patients"
    assert ("polarity" in found) == (generator.polarity == "direct")
    epoch = generator.provenance["classifier_selected_epoch"]
    assert generator.checkpoint_selection == (
        f"stage 0 last epoch; stage 1 best slice AUC on the validation patients (epoch {epoch + 1} of 10); "
        "stage 2 last epoch"
    )
    # Healthy-labelled slices get empty outputs (their weak label is exact).
    labelled = make_toy(4, 64, seed=301).slices
    relabelled = generator.generate(labelled)
    assert not relabelled.masks[labelled.labels == Label.HEALTHY].any()
    # The inverted polarity is 1 - the direct map inside the brain.
    chosen, signed = generator.polarity, {}
    try:
        for polarity in ("direct", "inverted"):
            generator.polarity = polarity
            signed[polarity] = generator.soft_maps(test.slices)
    finally:
        generator.polarity = chosen
    brain = test.slices.brain_masks
    np.testing.assert_allclose(signed["inverted"][brain], 1 - signed["direct"][brain], atol=1e-5)


def _lesion_map(images: torch.Tensor) -> torch.Tensor:
    # The toy's discs are 0.35 brighter than tissue of 0.45 +- 0.05: a threshold finds them exactly.
    return (images.mean(dim=1, keepdim=True) > 0.62).float()


@pytest.mark.parametrize("orientation", ["direct", "inverted"])
def test_polarity_check_recovers_the_sign_of_a_map_that_marks_the_lesion(fitted, orientation, monkeypatch, make_toy):
    # The check itself is sound: handed the lesion's own mask in either orientation, every trained classifier
    # recovers the sign with a wide margin (logit drops measured 0.30-0.89 vs <= 0.08). Where the toy maps fail,
    # the four exits' CAMs learnt opposite signs (instance norm + ReLU + GAP make "low at the lesion" as good a
    # detector as "high") and cancel in their mean: then neither sign localises and there is nothing to find.
    flip = orientation == "inverted"
    for run in fitted[:5]:
        generator = run.generator
        saved = generator.polarity, dict(generator._facts), list(generator._run_notes)
        monkeypatch.setattr(generator, "_direct_maps", lambda x: 1 - _lesion_map(x) if flip else _lesion_map(x))
        try:
            generator._settle_polarity(run.train.slices, run.validation.slices)
            generator_polarity, drops = generator.polarity, generator._facts["polarity_check"]
        finally:
            monkeypatch.undo()
            generator.polarity, generator._facts, generator._run_notes = saved
        other = "direct" if flip else "inverted"
        assert generator_polarity == orientation
        assert drops[orientation] > 0.15, drops
        assert drops[orientation] > drops[other] + 0.15, drops


def test_refits_resume_from_the_stage_checkpoints(context_factory, make_toy):
    train = make_toy(12, 64, seed=5)
    options = AmeCamOptions(**(TINY | {"classifier_epochs": 1, "aggregation_epochs": 1, "polarity": "inverted"}))
    context = context_factory()
    first = AmeCamGenerator(options, context)
    first.fit(train.slices)
    assert len(list(context.work_dir.glob("ame-cam-s*"))) == 3
    again = AmeCamGenerator(options, context)
    again.fit(train.slices)
    test = make_toy(4, 64, seed=6, hidden=True).slices
    assert np.array_equal(first.generate(test).soft, again.generate(test).soft)
    (stage1,) = [d for d in first.deviations if d.kind == "selection"]
    assert stage1.used == "last epoch (no validation slices with both labels)"
    assert first.checkpoint_selection.startswith("stage 0 last epoch; stage 1 last epoch (no validation")


def test_errors(context_factory, make_toy):
    toy = make_toy(8, 32, seed=7)
    generator = AmeCamGenerator(AmeCamOptions(**TINY), context_factory())
    with pytest.raises(ContractError, match="before fit"):
        generator.generate(toy.slices)
    healthy_only = toy.slices.select(toy.slices.where_label(Label.HEALTHY))
    with pytest.raises(DataError, match="healthy and anomalous"):
        generator.fit(healthy_only)
    with pytest.raises(ConfigError, match="too small"):
        generator.fit(toy.slices)  # 32² slices: the last stage would be 1 x 1


def test_masks_feed_a_segmenter(context_factory, make_toy):
    from wsad_baselines.config import UNetOptions
    from wsad_baselines.unet import UNetSegmenter

    train = make_toy(12, 64, seed=8)
    options = TINY | {"width": 4, "classifier_epochs": 1, "aggregation_epochs": 1}
    generator = AmeCamGenerator(AmeCamOptions(**options), context_factory())
    generator.fit(train.slices)
    masks = generator.generate(train.slices)  # what the pipeline hands a segmenter: empty on healthy slices
    segmenter = UNetSegmenter(UNetOptions(channels=(4, 8), epochs=1, batch_size=6), context_factory(name="unet"))
    segmenter.fit(train.slices, masks)
    assert segmenter.predict(make_toy(3, 64, seed=9, hidden=True).slices).scores.shape == (3, 64, 64)
