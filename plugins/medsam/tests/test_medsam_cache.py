"""The embedding cache on its own: LRU in memory, bounded LRU on disk, bit-exact round trip."""

from __future__ import annotations

import os

import torch
from wsad_medsam._cache import EmbeddingCache, shared_memory_cache


def test_memory_level_is_shared_and_least_recently_used_first_out():
    shared_memory_cache().clear()
    cache = EmbeddingCache(memory_items=2)
    for key in "abc":
        cache.put(key, torch.full((1, 2), float(ord(key))))
        if key == "b":
            assert cache.get("a") is not None  # a is now more recent than b
    assert EmbeddingCache(memory_items=2).get("b") is None  # evicted; the level is process-wide
    assert EmbeddingCache(memory_items=2).get("a") is not None
    assert EmbeddingCache(memory_items=0).get("a") is None  # 0 disables the level
    shared_memory_cache().clear()


def test_disk_level_round_trips_exactly_and_respects_its_bound(tmp_path):
    value = torch.randn(1, 256, 8, 8)  # 64 KiB
    cache = EmbeddingCache(memory_items=0, disk_dir=tmp_path, disk_bytes=215_000)
    for i in range(5):
        cache.put(f"k{i}", value + i)
        os.utime(tmp_path / "medsam-embeddings" / f"k{i}.pt", ns=(i * 10**9, i * 10**9))  # distinct ages
    files = sorted(p.stem for p in (tmp_path / "medsam-embeddings").glob("*.pt"))
    assert files == ["k2", "k3", "k4"]  # three 64 KiB files (~67 kB each) fit in 215 kB; the oldest went first
    assert torch.equal(EmbeddingCache(0, tmp_path, 215_000).get("k4"), value + 4)
    assert cache.get("k0") is None
    assert (cache.hits, cache.misses) == (0, 1)


def test_a_partial_file_reads_as_a_miss(tmp_path):
    cache = EmbeddingCache(memory_items=0, disk_dir=tmp_path, disk_bytes=1 << 20)
    (tmp_path / "medsam-embeddings").mkdir()
    (tmp_path / "medsam-embeddings" / "broken.pt").write_bytes(b"\x80\x02half")
    assert cache.get("broken") is None
