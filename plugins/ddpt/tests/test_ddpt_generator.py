"""The generator end to end: localisation, save/reload, resume, map options, training subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from wsad_ddpt import generator as generator_module
from wsad_ddpt._data import LabelledSlices, _crop_box, clip_inputs, grey
from wsad_ddpt.config import DDPTOptions
from wsad_ddpt.generator import DDPTGenerator

from wsad_core import DataError, Label, MaskSet
from wsad_core.testing import toy_batch

# Prompt-training settings for seconds-long tests (no warm-up; not the faithful schedule).
QUICK = {"warmup_epochs": 0, "coop_warmup_epochs": 0, "batch_size": 16, "train_fraction": 1.0}


def _pretrain_last_block(generator: DDPTGenerator, steps: int = 60, seed: int = 0) -> None:
    """Stand-in for CLIP pre-training: fit the last block, ln_post and proj of the tiny backbone to tell
    bright-blob slices from plain ones by their zero-shot similarity to the two hand-crafted prompts,
    then freeze everything again. A *random* tiny backbone's class-token attention is close to
    uniform (masks cover ~95 % of the slice whatever the prompts), so only a backbone that learned
    to look at blobs can show that DDPT's maps land on them, as CLIP's pre-trained attention does.
    """
    visual = generator.network.clip.visual
    data = toy_batch(n_train=64, n_test=2, size=64, seed=5).train
    images = clip_inputs(grey(data, np.arange(len(data)), 0, True), 64)
    labels = torch.from_numpy(data.labels.astype(np.int64))
    hand = F.normalize(generator.network.handcrafted, dim=-1)
    params = [*visual.transformer.resblocks[-1].parameters(), *visual.ln_post.parameters(), visual.proj]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=1e-3)
    order = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randperm(len(data), generator=order)[:32]
        loss = F.cross_entropy(30 * F.normalize(visual(images[batch]), dim=-1) @ hand.T, labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    generator.network.clip.requires_grad_(False)


def test_pseudo_masks_land_on_the_blobs(tiny, context_factory, dice):
    data = toy_batch(n_train=32, n_test=32, size=64, seed=0)
    options = DDPTOptions(**{**tiny, **QUICK, "epochs": 3, "general_knowledge_epochs": 1})
    generator = DDPTGenerator(options, context_factory(seed=0))
    _pretrain_last_block(generator)
    generator.fit(data.train)
    assert generator.history.train_loss[-1] < generator.history.train_loss[0]
    masks = generator.generate(data.test)
    lesion = data.test_truth.any(axis=(1, 2))
    truth, found, soft = data.test_truth[lesion], masks.masks[lesion], masks.soft[lesion]
    ours = np.mean([dice(found[i], truth[i]) for i in range(len(truth))])
    # Chance levels: the same masks scored against another slice's blob, or rotated by 180°.
    shuffled = np.mean([dice(found[(i + 1) % len(truth)], truth[i]) for i in range(len(truth))])
    rotated = np.mean([dice(found[i][::-1, ::-1], truth[i]) for i in range(len(truth))])
    inside = np.mean([soft[i][truth[i]].mean() for i in range(len(truth))])
    outside = np.mean([soft[i][~truth[i]].mean() for i in range(len(truth))])
    # Measured (seed 0): Dice 0.47, shuffled 0.27, rotated 0.19, soft map 0.71 inside vs 0.25 outside;
    # over seeds 0-3: Dice 0.29-0.47, always >= shuffled + 0.095 and >= 2.3 x rotated.
    assert ours > 0.3
    assert ours > shuffled + 0.1
    assert ours > 1.5 * rotated
    assert inside > 2 * outside


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[DDPTGenerator, Path]:
    from wsad_core import BuildContext

    options = DDPTOptions(model="ddpt-tiny", pretrained=None, allow_random_init=True, epochs=1, **QUICK)
    work = tmp_path_factory.mktemp("fitted")
    generator = DDPTGenerator(options, BuildContext(work_dir=work, seed=0))
    generator.fit(toy_batch(n_train=16, size=64, seed=2).train)
    return generator, work


def test_prompts_are_saved_and_reloaded(fitted, context_factory, tmp_path):
    generator, _ = fitted
    path = generator.save(tmp_path / "prompts.pt")
    test = toy_batch(n_train=2, n_test=6, size=64, seed=3).test
    again = DDPTGenerator.load(path, context_factory(seed=0))
    first, second = generator.generate(test), again.generate(test)
    np.testing.assert_array_equal(first.soft, second.soft)
    np.testing.assert_array_equal(first.masks, second.masks)
    with pytest.raises(DataError, match="random-init CLIP of seed 0"):
        DDPTGenerator.load(path, context_factory(seed=1, name="other"))
    checkpoint = Path(generator.provenance["checkpoint_dir"])
    assert (checkpoint / "prompts.pt").is_file()
    assert (checkpoint / "last.pt").is_file()


def test_training_resumes_after_an_interruption(tiny, context_factory, monkeypatch):
    data = toy_batch(n_train=16, size=64, seed=4).train
    options = DDPTOptions(**{**tiny, **QUICK, "epochs": 2})
    whole = DDPTGenerator(options, context_factory(seed=0, name="whole"))
    whole.fit(data)

    real_loss = generator_module.ddpt_loss

    def interrupted(*args: object, epoch: int, **kwargs: object) -> torch.Tensor:
        if epoch == 1:
            raise KeyboardInterrupt
        return real_loss(*args, epoch=epoch, **kwargs)

    monkeypatch.setattr(generator_module, "ddpt_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        DDPTGenerator(options, context_factory(seed=0, name="broken")).fit(data)
    monkeypatch.setattr(generator_module, "ddpt_loss", real_loss)
    resumed = DDPTGenerator(options, context_factory(seed=0, name="broken"))
    resumed.fit(data)
    assert resumed.history.resumed_at == [1]
    for (name, a), (_, b) in zip(
        whole.network.prompts.state_dict().items(), resumed.network.prompts.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_map_options(fitted, monkeypatch):
    generator, _ = fitted
    labelled = toy_batch(n_train=8, size=64, seed=6).train  # labels 0 / 1 alternate
    healthy = labelled.labels == Label.HEALTHY
    faithful = generator.generate(labelled)
    assert isinstance(faithful, MaskSet)
    assert faithful.source == "ddpt"
    assert not faithful.soft[healthy].any()
    assert faithful.soft[~healthy].any()
    generator.options = generator.options.model_copy(update={"healthy_slices": "map", "mask_outside_brain": True})
    try:
        mapped = generator.generate(labelled)
        assert mapped.soft[healthy].any()
        assert not mapped.soft[:, ~labelled.brain_masks[0]].any()
        generator.options = generator.options.model_copy(update={"class_guided": True})
        monkeypatch.setattr(
            generator, "_class_logits", lambda images: torch.tensor([[1.0, 0.0]]).expand(len(images), 2)
        )
        hidden = labelled.with_labels_hidden()
        guided = generator.generate(hidden)  # every unlabelled slice "classified healthy": empty
        assert not guided.masks.any()
        assert generator.generate(labelled).soft[~healthy].any()  # labelled anomalous slices stay mapped
    finally:
        generator.options = generator.options.model_copy(
            update={"healthy_slices": "empty", "mask_outside_brain": False, "class_guided": False}
        )


def test_training_subset_per_class_fraction_and_shots():
    slices = toy_batch(n_train=40, size=32, seed=0).train  # 20 healthy, 20 anomalous
    labels = slices.labels.copy()
    labels[:4] = Label.UNKNOWN
    slices = type(slices)(
        slices.images, slices.brain_masks, labels, slices.case_ids, slices.slice_indices, slices.modalities
    )
    chosen = LabelledSlices.select(slices, fraction=0.6, shots=10_000, seed=0)
    assert chosen.counts() == {"healthy": 10, "anomalous": 10}  # int(0.6 * 18) = 10 each
    assert not np.isin(chosen.index, np.arange(4)).any()
    np.testing.assert_array_equal(chosen.labels, slices.labels[chosen.index])
    capped = LabelledSlices.select(slices, fraction=1.0, shots=5, seed=0)
    assert capped.counts() == {"healthy": 5, "anomalous": 5}
    again = LabelledSlices.select(slices, fraction=0.6, shots=10_000, seed=0)
    np.testing.assert_array_equal(chosen.index, again.index)
    assert not np.array_equal(chosen.index, LabelledSlices.select(slices, fraction=0.6, shots=10_000, seed=1).index)


def test_random_resized_crop_stays_inside_the_slice():
    generator = torch.Generator().manual_seed(0)
    areas = []
    for _ in range(200):
        top, left, h, w = _crop_box(256, 256, (0.08, 1.0), generator)
        assert top >= 0
        assert left >= 0
        assert top + h <= 256
        assert left + w <= 256
        assert h > 0
        assert w > 0
        areas.append(h * w / 256**2)
    assert min(areas) < 0.2
    assert max(areas) > 0.8


def test_fit_needs_both_classes(tiny, context_factory):
    slices = toy_batch(n_train=8, size=64).train
    healthy_only = slices.select(slices.where_label(Label.HEALTHY))
    with pytest.raises(DataError, match="healthy and anomalous"):
        DDPTGenerator(DDPTOptions(**tiny), context_factory()).fit(healthy_only)
