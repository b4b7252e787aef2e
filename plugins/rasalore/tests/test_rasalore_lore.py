"""LoRE: seeded, in the code's draw order and point order; point labels (§5, §8)."""

from __future__ import annotations

import math

import torch
from wsad_rasalore.lore import candidate_points, lore_embedding, lore_sha256, point_labels


def test_candidate_points_are_row_major_on_the_nominal_grid():
    points = candidate_points(1024)
    assert points.shape == (1024, 2)
    assert points[0].tolist() == [0, 0]
    assert points[1].tolist() == [0, 8]  # token 32·i + j ↔ (row 8i, col 8j)
    assert points[33].tolist() == [8, 8]
    assert points[-1].tolist() == [248, 248]
    assert candidate_points(64)[9].tolist() == [32, 32]


def test_lore_follows_the_formula_and_draw_order():
    table = lore_embedding(1024, 256, seed=7)
    generator = torch.Generator().manual_seed(7)
    matrix = torch.floor(torch.randn((2, 128), generator=generator) * 128)  # floor(128 z), std ≈ 128
    offset = torch.randn((1, 256), generator=generator)
    u = 2 * (torch.from_numpy(candidate_points(1024)).float() / 256) - 1  # u = 2·(a/256, b/256) - 1
    phase = 2 * math.pi * (u @ matrix)
    expected = torch.cat([torch.sin(phase), torch.cos(phase)], -1) + offset
    assert table.shape == (1024, 256)
    assert table.dtype == torch.float32
    assert torch.equal(table, expected)


def test_lore_is_seeded_and_hashed():
    a, b, c = lore_embedding(64, 32, 1), lore_embedding(64, 32, 1), lore_embedding(64, 32, 2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert lore_sha256(a) == lore_sha256(b) != lore_sha256(c)
    assert len(lore_sha256(a)) == 64


def test_official_codes_are_effectively_random_per_location_smooth_ones_are_not():
    def neighbour_correlation(table):
        centred = table - table.mean(0)
        grid = centred.view(32, 32, -1)
        pairs = torch.nn.functional.cosine_similarity(grid[:, :-1].reshape(-1, 256), grid[:, 1:].reshape(-1, 256))
        return pairs.mean().item()

    # Measured: official ≈ 0.00, smooth ≈ 0.99.
    assert abs(neighbour_correlation(lore_embedding(1024, 256, 0))) < 0.1
    assert neighbour_correlation(lore_embedding(1024, 256, 0, "smooth")) > 0.8


def test_point_labels_sample_the_top_left_pixel_of_each_cell():
    masks = torch.zeros(1, 1, 128, 128)
    masks[0, 0, 8, 12] = 1  # cell (2, 3) top-left pixel → label 32·2 + 3
    masks[0, 0, 9, 13] = 1  # not a sampled pixel: ignored (no pooling)
    labels = point_labels(masks, 32)
    assert labels.shape == (1, 1024)
    assert labels[0].nonzero().flatten().tolist() == [67]
