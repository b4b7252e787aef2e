"""The generator end to end: localisation, save/reload, resume, map options, training subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from wsad_ddpt import generator as generator_module
from wsad_ddpt._data import CLIP_MEAN, CLIP_STD, LabelledSlices, _crop_box
from wsad_ddpt.config import DDPTOptions
from wsad_ddpt.generator import DDPTGenerator

from wsad_core import DataError, Label, MaskSet
from wsad_core.testing import toy_batch

# Prompt-training settings for seconds-long tests (no warm-up; not the faithful schedule).
QUICK = {"warmup_epochs": 0, "coop_warmup_epochs": 0, "batch_size": 16, "train_fraction": 1.0}


def _bright_patch_backbone(generator: DDPTGenerator, sharpness: float = 10.0) -> None:
    """Stand-in for CLIP pre-training: set the tiny backbone's weights so that the last block's class token
    attends to bright patches, as CLIP's pre-trained attention lands on salient objects.

    A *random* tiny backbone's class-token attention is close to uniform whatever the prompts, and fitting
    one to classify blob slices does not reliably make it *look* at the blobs (the former test's stand-in
    localised for some seeds and covered nothing for others). Built by hand, the property holds for every
    seed, so the test checks what DDPT adds: that its maps carry the backbone's attention to the right
    pixels (patch order, grid, resizing, upsampling, thresholds) after prompt training.

    Construction: patch-embedding channel 0 = the patch's mean intensity (two constant channels keep the
    LayerNorms monotone in it); the blocks before the last add nothing (zero output projections), so the
    deep visual prompts cannot move the patch tokens; in the last block every head's class-token query
    meets key = channel 0 with weight ``sharpness``. The class-aware prompts only add columns, which the
    patch attention's normalisation by its maximum removes.
    """
    visual = generator.network.clip.visual
    with torch.no_grad():
        conv = visual.conv1.weight  # (width, 3, patch, patch), no bias; inputs are CLIP-normalised grey
        conv.zero_()
        pixels = conv.shape[-1] * conv.shape[-2]
        for c in range(3):
            conv[0, c] = CLIP_STD[c] / (3 * pixels)  # channel 0 = mean intensity - mean(CLIP_MEAN)
        position = visual.positional_embedding
        position.zero_()
        position[1:, 0] = float(np.mean(CLIP_MEAN))
        position[1:, 1], position[1:, 2] = 1.0, -1.0
        visual.class_embedding.zero_()
        visual.class_embedding[3] = 1.0
        for block in visual.transformer.resblocks[:-1]:
            for layer in (block.attn.out_proj, block.mlp.c_proj):
                layer.weight.zero_()
                layer.bias.zero_()
        last = visual.transformer.resblocks[-1]
        width, heads = last.attn.embed_dim, last.attn.num_heads
        cls = last.ln_1(visual.ln_pre(visual.class_embedding))  # the class token as the last block sees it
        weight, bias = last.attn.in_proj_weight, last.attn.in_proj_bias
        weight[: 2 * width].zero_()
        bias[: 2 * width].zero_()
        for head in range(heads):
            weight[head * (width // heads)] = sharpness * cls / cls.dot(cls)  # query = sharpness for the class
            weight[width + head * (width // heads), 0] = 1.0  # key = intensity channel


def _localisation(found: np.ndarray, soft: np.ndarray, truth: np.ndarray, dice) -> dict[str, float]:
    """Dice of ``found`` against ``truth`` and its chance levels, and the soft map inside vs outside."""
    n = len(truth)
    return {
        "dice": np.mean([dice(found[i], truth[i]) for i in range(n)]),
        # Chance levels: the same masks scored against another slice's blob, rotated by 180°, transposed.
        "shuffled": np.mean([dice(found[(i + 1) % n], truth[i]) for i in range(n)]),
        "rotated": np.mean([dice(found[i][::-1, ::-1], truth[i]) for i in range(n)]),
        "transposed": np.mean([dice(found[i].T, truth[i]) for i in range(n)]),
        "inside": np.mean([soft[i][truth[i]].mean() for i in range(n)]),
        "outside": np.mean([soft[i][~truth[i]].mean() for i in range(n)]),
    }


def _localises(s: dict[str, float]) -> bool:
    # Measured over seeds 0-15 at 64² and 96²: Dice 0.67-0.75; shuffled <= 0.29, transposed 0.19-0.43 (blobs
    # sit near the centre), always >= 0.29 below the Dice; rotated <= 0.15; soft map 0.55-0.64 inside vs
    # 0.04-0.06 outside.
    return bool(
        s["dice"] > 0.55
        and s["dice"] > max(s["shuffled"], s["transposed"]) + 0.2
        and s["dice"] > 3 * s["rotated"]
        and s["inside"] > 5 * s["outside"]
    )


@pytest.mark.parametrize(("seed", "size"), [(0, 64), (7, 96), (8, 64)])
def test_pseudo_masks_land_on_what_the_backbone_attends_to(tiny, context_factory, dice, seed, size):
    data = toy_batch(n_train=32, n_test=32, size=size, seed=seed)  # 96²: resized to the 64 px tower and back
    options = DDPTOptions(**{**tiny, **QUICK, "epochs": 3, "general_knowledge_epochs": 1})
    generator = DDPTGenerator(options, context_factory(seed=seed))
    _bright_patch_backbone(generator)
    generator.fit(data.train)
    masks = generator.generate(data.test)
    lesion = data.test_truth.any(axis=(1, 2))
    truth, found, soft = data.test_truth[lesion], masks.masks[lesion], masks.soft[lesion]
    stats = _localisation(found, soft, truth, dice)
    assert _localises(stats), stats
    # The criterion can fail: maps that ignore the image do.
    constant = np.ones_like(found)
    assert not _localises(_localisation(constant, constant.astype(np.float32), truth, dice))
    noise = np.random.default_rng(seed).random(soft.shape).astype(np.float32)
    assert not _localises(_localisation(noise > 0.5, noise, truth, dice))
    assert not _localises(_localisation(found[::-1].copy(), soft[::-1].copy(), truth, dice))  # other slices'


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
