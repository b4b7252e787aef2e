"""SliceCache: round trip without decoding NIfTI, content keys, interruption and race safety."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from wsad_core.data import PreprocessConfig, SliceCache, prepare_cases
from wsad_core.data import preprocess as preprocess_module
from wsad_core.data._cache_integrity import CacheEntryError, _file_digest
from wsad_core.data.adapters import BratsOptions
from wsad_core.data.adapters.brats import index_brats
from wsad_core.data.cache import _ARRAYS
from wsad_core.data.index import DatasetIndex

from .conftest import phantom

CONFIG = PreprocessConfig(skip_first=2, skip_last=2, size=24)
FIELDS = (*_ARRAYS, "case_id", "modalities", "native_shape", "has_mask")


def _index(tmp_path: Path, n: int = 2) -> DatasetIndex:
    root = tmp_path / "data"
    for i in range(n):
        names = {"flair": f"c{i}_flair.nii.gz", "t1": f"c{i}_t1.nii.gz", "seg": f"c{i}_seg.nii.gz"}
        phantom(seed=i).write(root / f"c{i}", names)
    return index_brats(BratsOptions(), root)


def _same(a: object, b: object) -> None:
    for name in FIELDS:
        left, right = getattr(a, name), getattr(b, name)
        if isinstance(left, np.ndarray):
            assert left.dtype == right.dtype, name
            assert np.array_equal(left, right), name
        else:
            assert left == right, name


@pytest.fixture
def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = preprocess_module.load_volume

    def counting(ref, **options):
        calls.append(str(ref))
        return original(ref, **options)

    monkeypatch.setattr(preprocess_module, "load_volume", counting)
    return calls


def test_round_trip_without_decoding(tmp_path: Path, count_loads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    index = _index(tmp_path)
    cache = SliceCache(tmp_path / "cache")
    first = prepare_cases(index, ("flair", "t1"), CONFIG, cache)
    assert len(count_loads) == 6  # 2 cases x (2 images + 1 mask)
    uncached = prepare_cases(index, ("flair", "t1"), CONFIG, None)

    def refuse(ref, **options):
        raise AssertionError(f"NIfTI decoded on a cache hit: {ref}")

    monkeypatch.setattr(preprocess_module, "load_volume", refuse)
    second = prepare_cases(index, ("flair", "t1"), CONFIG, SliceCache(tmp_path / "cache"))
    for a, b, c in zip(first, second, uncached, strict=True):
        _same(a, b)
        _same(b, c)
        assert isinstance(b.images, np.memmap)


def test_key_depends_on_config_modalities_adapter_and_content(tmp_path: Path) -> None:
    index = _index(tmp_path, n=1)
    case = index.cases[0]
    cache = SliceCache(tmp_path / "cache")
    key = cache.key(case, ("flair",), CONFIG, "brats")
    assert key == cache.key(case, ("flair",), CONFIG, "brats")
    assert key != cache.key(case, ("flair",), CONFIG.model_copy(update={"size": 32}), "brats")
    assert key != cache.key(case, ("flair", "t1"), CONFIG, "brats")
    assert key != cache.key(case, ("flair",), CONFIG, "folder")
    # Touching a file changes its mtime but not its content: same key.
    flair = case.images["flair"].path
    os.utime(flair, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert cache.key(case, ("flair",), CONFIG, "brats") == key
    # New content: new key.
    phantom(seed=9).write(flair.parent, {"flair": flair.name, "t1": "", "seg": ""})
    assert cache.key(case, ("flair",), CONFIG, "brats") != key


def test_file_hashes_are_memoised_across_instances(tmp_path: Path) -> None:
    index = _index(tmp_path, n=1)
    first = SliceCache(tmp_path / "cache")
    key = first.key(index.cases[0], ("flair",), CONFIG, "brats")
    assert first.hasher.computed == 2
    second = SliceCache(tmp_path / "cache")
    assert second.key(index.cases[0], ("flair",), CONFIG, "brats") == key
    assert second.hasher.computed == 0


def test_leftover_temp_dir_and_incomplete_entry_are_ignored(tmp_path: Path, count_loads: list[str]) -> None:
    index = _index(tmp_path, n=1)
    cache = SliceCache(tmp_path / "cache")
    key = cache.key(index.cases[0], ("flair",), CONFIG, index.name)
    # What a killed writer leaves: a temp folder with some arrays, no meta.json.
    leftover = cache.root / "tmp" / f"{key}.999.dead"
    leftover.mkdir(parents=True)
    np.save(leftover / "images.npy", np.zeros(3))
    assert cache.load(key) is None
    # A half entry without meta.json under entries/ is never trusted either.
    half = cache.entry(key)
    half.mkdir(parents=True)
    np.save(half / "images.npy", np.zeros(3))
    assert cache.load(key) is None
    half.joinpath("images.npy").unlink()
    half.rmdir()
    prepared = prepare_cases(index, ("flair",), CONFIG, cache)
    assert len(count_loads) == 2
    assert cache.load(key) is not None
    _same(prepared[0], cache.load(key))


def test_interrupted_store_leaves_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = _index(tmp_path, n=1)
    cache = SliceCache(tmp_path / "cache")
    key = cache.key(index.cases[0], ("flair",), CONFIG, index.name)
    prepared = prepare_cases(index, ("flair",), CONFIG, None)[0]
    calls = {"n": 0}
    real_save = np.save

    def dying_save(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_save(*args, **kwargs)

    monkeypatch.setattr(np, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        cache.store(key, prepared)
    monkeypatch.setattr(np, "save", real_save)
    assert cache.load(key) is None
    assert not cache.entry(key).exists()
    cache.store(key, prepared)
    _same(cache.load(key), prepared)


def test_corrupt_entry_is_rebuilt(tmp_path: Path, count_loads: list[str]) -> None:
    index = _index(tmp_path, n=1)
    cache = SliceCache(tmp_path / "cache")
    prepare_cases(index, ("flair",), CONFIG, cache)
    key = cache.key(index.cases[0], ("flair",), CONFIG, index.name)
    images = cache.entry(key) / "images.npy"
    images.write_bytes(images.read_bytes()[:100])
    assert cache.load(key) is None
    assert not cache.entry(key).exists()
    count_loads.clear()
    again = prepare_cases(index, ("flair",), CONFIG, cache)
    assert len(count_loads) == 2
    assert again[0].images.shape == (20, 1, 24, 24)


def test_concurrent_store_keeps_the_first_entry(tmp_path: Path) -> None:
    index = _index(tmp_path, n=1)
    cache = SliceCache(tmp_path / "cache")
    other = SliceCache(tmp_path / "cache")
    key = cache.key(index.cases[0], ("flair",), CONFIG, index.name)
    prepared = prepare_cases(index, ("flair",), CONFIG, None)[0]
    first = cache.store(key, prepared)
    stamp = (first / "meta.json").stat().st_mtime_ns
    assert other.store(key, prepared) == first
    assert (first / "meta.json").stat().st_mtime_ns == stamp
    assert list((cache.root / "tmp").iterdir()) == []


def test_stale_temp_dirs_are_cleaned(tmp_path: Path) -> None:
    index = _index(tmp_path, n=1)
    cache = SliceCache(tmp_path / "cache")
    stale = cache.root / "tmp" / "old.1.x"
    fresh = cache.root / "tmp" / "new.2.y"
    stale.mkdir(parents=True)
    fresh.mkdir()
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    prepare_cases(index, ("flair",), CONFIG, cache)
    assert not stale.exists()
    assert fresh.exists()


def test_progress_reports_each_case(tmp_path: Path) -> None:
    index = _index(tmp_path, n=2)
    seen: list[tuple[str, int | None, dict]] = []

    class Task:
        def advance(self, steps: int = 1, **fields: object) -> None:
            seen.append(("advance", steps, fields))

    class Reporter:
        @contextmanager
        def task(self, description: str, total: int | None):
            seen.append((description, total, {}))
            yield Task()

    prepare_cases(index, ("flair",), CONFIG, None, Reporter())
    assert seen == [("preprocessing", 2, {}), ("advance", 1, {"case": "c0"}), ("advance", 1, {"case": "c1"})]


def test_default_root_follows_wsad_cache(cache_env: Path) -> None:
    assert SliceCache().root == cache_env / "slices"


def _damage_zero_part(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 512] = bytes(512)  # same size, header intact: only a checksum can tell
    path.write_bytes(bytes(data))


def _damage_random_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-64:] = np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_damage_zero_part, _damage_random_bytes], ids=["zeroed", "random-bytes"])
@pytest.mark.parametrize("name", ["images", "native_masks", "lesion_pixels"])
def test_damaged_array_fails_its_checksum_and_is_rebuilt_with_a_warning(
    tmp_path: Path, count_loads: list[str], caplog: pytest.LogCaptureFixture, damage, name: str
) -> None:
    index = _index(tmp_path, n=1)
    cache = SliceCache(tmp_path / "cache")
    prepare_cases(index, ("flair",), CONFIG, cache)
    fresh = prepare_cases(index, ("flair",), CONFIG, None)[0]  # in memory: the damage below cannot reach it
    key = cache.key(index.cases[0], ("flair",), CONFIG, index.name)
    damage(cache.entry(key) / f"{name}.npy")
    count_loads.clear()
    with caplog.at_level("WARNING", logger="wsad.data"):
        again = prepare_cases(index, ("flair",), CONFIG, cache)[0]
    assert len(count_loads) == 2, "rebuilt from the NIfTI files"
    _same(again, fresh)
    message = caplog.text
    assert "c0" in message, "names the case"
    assert f"{name}.npy" in message, "names the file"
    assert "rebuilding" in message
    assert cache.load(key) is not None, "the rebuilt entry is valid"


def test_impossible_values_are_never_cached(tmp_path: Path) -> None:
    index = _index(tmp_path, n=1)
    cache = SliceCache(tmp_path / "cache")
    key = cache.key(index.cases[0], ("flair",), CONFIG, index.name)
    prepared = prepare_cases(index, ("flair",), CONFIG, None)[0]
    images = np.array(prepared.images)
    images[0, 0, 0, 0] = np.nan
    lesions = np.array(prepared.lesion_pixels)
    lesions[0] += 1
    for bad, rule in (
        (dataclasses.replace(prepared, images=images), "NaN"),
        (dataclasses.replace(prepared, lesion_pixels=lesions), "disagrees"),
    ):
        with pytest.raises(CacheEntryError, match=rule):
            cache.store(key, bad)
        assert not cache.entry(key).exists()
    cache.store(key, prepared)
    _same(cache.load(key), prepared)


def test_entry_whose_dtype_disagrees_with_its_record_is_rebuilt(tmp_path: Path) -> None:
    index = _index(tmp_path, n=1)
    cache = SliceCache(tmp_path / "cache")
    prepare_cases(index, ("flair",), CONFIG, cache)
    key = cache.key(index.cases[0], ("flair",), CONFIG, index.name)
    folder = cache.entry(key)
    np.save(folder / "slice_indices.npy", np.load(folder / "slice_indices.npy").astype(np.int64))
    meta = json.loads((folder / "meta.json").read_text())
    meta["arrays"]["slice_indices"].update(bytes=(folder / "slice_indices.npy").stat().st_size)
    meta["arrays"]["slice_indices"]["xxh3_128"] = _file_digest(folder / "slice_indices.npy")
    (folder / "meta.json").write_text(json.dumps(meta))  # a consistent checksum, but the wrong dtype
    assert cache.load(key) is None


def test_entry_without_checksums_from_an_older_version_is_rebuilt(tmp_path: Path, count_loads: list[str]) -> None:
    index = _index(tmp_path, n=1)
    cache = SliceCache(tmp_path / "cache")
    prepare_cases(index, ("flair",), CONFIG, cache)
    key = cache.key(index.cases[0], ("flair",), CONFIG, index.name)
    meta_path = cache.entry(key) / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["arrays"]
    meta_path.write_text(json.dumps(meta))
    assert cache.load(key) is None
    count_loads.clear()
    prepare_cases(index, ("flair",), CONFIG, cache)
    assert len(count_loads) == 2
