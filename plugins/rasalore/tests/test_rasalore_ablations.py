"""The architecture ablations of issue 13: no RASA and no LoRE (learned queries), never the default."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from wsad_rasalore.config import Geometry, RasaloreOptions
from wsad_rasalore.lore import lore_embedding
from wsad_rasalore.segmenter import RasaloreSegmenter
from wsad_rasalore.torch_model import RasaloreNet

TINY = {"input_size": 16, "num_points": 16, "embed_dim": 16, "width_divisor": 8, "batch_size": 8}
NO_RASA = {"rasa": False, "point_weight": 0, "structure_weight": 0}
GEOMETRY = Geometry(input_size=16, num_points=16, embed_dim=16, heads=4, width_divisor=8)


def _net(trainable_lore: bool = False) -> RasaloreNet:
    torch.manual_seed(0)
    variant = "learned" if trainable_lore else "official"
    return RasaloreNet(GEOMETRY, {"t2": lore_embedding(16, 16, 3, variant)}, trainable_lore=trainable_lore)


def test_published_defaults_keep_rasa_and_the_fixed_lore():
    options = RasaloreOptions()
    assert options.rasa is True
    assert options.lore_variant == "official"
    net = _net()
    assert "lore_t2" in dict(net.named_buffers())
    assert "lore_t2" not in dict(net.named_parameters())


def test_without_rasa_the_decoder_gets_the_lore_and_the_refiner_gets_no_gradient():
    net = _net()
    net.use_rasa = False
    images = torch.rand(2, 1, 16, 16) * 255
    out = net(images)
    assert torch.equal(out.embeddings, net.lore("t2").expand(2, -1, -1))
    assert torch.equal(out.activations[0], out.activations[1])  # no image input reaches them
    out.logits.sum().backward()
    assert all(p.grad is None for p in net.refiner.parameters())
    assert all(p.grad is None for p in net.rasa["t2"].parameters())
    assert net.encoder.e4.conv1.weight.grad is not None  # the decoder still sees the image


def test_without_rasa_the_point_losses_must_be_off():
    with pytest.raises(ValidationError, match="point_weight=0 and structure_weight=0"):
        RasaloreOptions(rasa=False)
    RasaloreOptions(**NO_RASA)


def test_ablations_are_single_modality_only():
    with pytest.raises(ValidationError, match="single-modality"):
        RasaloreOptions(lore_variant="learned", multimodal=["flair", "t1"])


def test_learned_lore_has_no_location_code_and_is_trained():
    table = lore_embedding(16, 16, 3, "learned")
    assert torch.equal(table, lore_embedding(16, 16, 3, "learned"))  # seeded
    assert abs(float(table.mean())) < 0.3
    assert 0.8 < float(table.std()) < 1.2
    net = _net(trainable_lore=True)
    assert "lore_t2" in dict(net.named_parameters())
    net(torch.rand(2, 1, 16, 16) * 255).logits.sum().backward()
    assert net.lore("t2").grad is not None
    assert float(net.lore("t2").grad.abs().sum()) > 0


def test_learned_lore_trains_saves_and_loads(context_factory, make_toy, tmp_path):
    toy, test = make_toy(8), make_toy(4, seed=9, hidden=True)
    segmenter = RasaloreSegmenter(RasaloreOptions(**TINY, epochs=2, lore_variant="learned"), context_factory())
    segmenter.fit(toy.slices, toy.noisy_masks())
    initial = lore_embedding(16, 16, segmenter.lore_seeds["flair"], "learned")
    assert not torch.equal(segmenter.net.lore("flair").cpu(), initial)  # the optimiser moved it
    loaded = RasaloreSegmenter.load(segmenter.save(tmp_path / "m.pt"), context_factory(name="other"))
    assert torch.equal(loaded.net.lore("flair"), segmenter.net.lore("flair"))
    assert np.array_equal(loaded.predict(test.slices).scores, segmenter.predict(test.slices).scores)


def test_no_rasa_trains_and_says_so(context_factory, make_toy):
    toy = make_toy(8)
    segmenter = RasaloreSegmenter(RasaloreOptions(**TINY, **NO_RASA, epochs=1), context_factory())
    segmenter.fit(toy.slices, toy.noisy_masks())
    initial = segmenter._build(("flair",))  # the same seeded initialisation
    assert torch.equal(segmenter.net.rasa["flair"].query.weight, initial.rasa["flair"].query.weight)  # untrained
    assert not torch.equal(segmenter.net.decoder.position, initial.decoder.position)  # the decoder trained
    found = {(d.kind, d.what, d.used, d.published) for d in segmenter.deviations}
    assert ("setting", "rasa", "off", "on") in found
    assert ("setting", "point_weight", "0.0", "1.0") in found
