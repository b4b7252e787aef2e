"""The network: the paper's shapes and its 7,254,370 parameters, block by block (§7)."""

from __future__ import annotations

import torch
from wsad_rasalore.config import PAPER, PRESETS, Geometry, RasaloreOptions
from wsad_rasalore.lore import lore_embedding
from wsad_rasalore.torch_model import RasaloreNet, parameter_counts

# §7 of shared/docs/rasalore.md: per-block counts of the official code.
PAPER_COUNTS = {
    "e1": 9_632,
    "e2": 55_552,
    "e3": 221_696,
    "e4": 885_760,
    "refiner": 396_864,
    "rasa": 2_142_081,
    "rasa_noise": 1_048_576,
    "decoder_attention": 263_168,
    "decoder_position": 1_048_576,
    "decoder_upsampler": 2_228_481,
    "decoder_norms": 2_560,
    "encoder_side": 3_711_585,
    "decoder": 3_542_785,
    "total": 7_254_370,
}


def _net(geometry, modalities=("t2",)):
    return RasaloreNet(
        geometry, {m: lore_embedding(geometry.num_points, geometry.embed_dim, i) for i, m in enumerate(modalities)}
    )


def test_paper_configuration_shapes_and_parameter_count():
    assert RasaloreOptions().geometry() == PAPER
    net = _net(PAPER).eval()
    assert parameter_counts(net) == PAPER_COUNTS
    assert sum(p.numel() for p in net.parameters()) == 7_254_370
    assert not any(name.startswith("lore") for name, _ in net.named_parameters())  # LoRE is a fixed buffer
    with torch.no_grad():
        out = net(torch.rand(1, 1, 128, 128) * 255)
    assert out.logits.shape == (1, 1, 256, 256)
    assert out.activations.shape == (1, 1024)
    assert out.embeddings.shape == (1, 1024, 256)
    assert ((out.activations > 0) & (out.activations < 1)).all()


def test_reduced_presets_have_the_documented_sizes():
    # shared/docs/environment.md §4: 64²/256/64 at full width → 1.45 M parameters; cpu-small halves the widths.
    assert parameter_counts(_net(Geometry(64, 256, 64)))["total"] == 1_453_858
    assert PRESETS["cpu-small"] == Geometry(64, 256, 64, width_divisor=2)
    assert parameter_counts(_net(PRESETS["cpu-small"]))["total"] == 734_258
    small = RasaloreOptions(input_size=32, num_points=64, embed_dim=32, width_divisor=4).geometry()
    net = _net(small).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 1, 32, 32) * 255)
    assert out.logits.shape == (2, 1, 64, 64)
    assert out.embeddings.shape == (2, 64, 32)


def test_multimodal_network_adds_one_rasa_per_modality():
    geometry = PRESETS["cpu-small"]
    single, double = parameter_counts(_net(geometry)), parameter_counts(_net(geometry, ("flair", "t1")))
    assert double["total"] - single["total"] == single["rasa"]
    assert parameter_counts(_net(geometry, ("flair", "t1")), ("t1",))["total"] == single["total"]
