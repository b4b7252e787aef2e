"""On-disk cache of prepared slices, so that a second run does not decode NIfTI again.

An entry's key is a SHA-256 over :data:`PREPROCESS_VERSION`, the preprocessing config,
the modalities, the adapter, the case id and the SHA-256 of every source file's
*content* (memoised by path, size and mtime, see :class:`~wsad_core.data._filehash.FileHasher`).
Layout under the root (default ``$WSAD_CACHE/slices`` or ``~/.cache/wsad/slices``)::

    entries/ab/<key>/images.npy … meta.json   complete entries only
    tmp/<key>.<pid>.<uuid>/                  entries being written
    hashes/                                  file-hash memo

An entry is written into ``tmp/`` and renamed into ``entries/`` in one atomic step, so a
killed writer leaves at most a temporary folder, which loads never look at and later
writers delete once it is stale. When two runs race, the first rename wins and the other
keeps the winner's (identical) entry. Entries are read with ``mmap_mode="r"``.

``meta.json`` records each array's dtype, shape and XXH3-128 digest; a load verifies them and
the values (:mod:`wsad_core.data._cache_integrity`), and an entry that fails is dropped with a
warning naming the case and the file, and rebuilt from the NIfTI files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wsad_core.context import ProgressReporter, SilentProgress
from wsad_core.data._cache_integrity import (
    CacheEntryError,
    check_structure,
    check_values,
    file_records,
    load_verified,
)
from wsad_core.data._filehash import FileHasher
from wsad_core.data._paths import default_slice_cache_root
from wsad_core.data.config import PreprocessConfig
from wsad_core.data.index import CaseRecord, DatasetIndex
from wsad_core.data.preprocess import PreparedCase, prepare_case
from wsad_core.errors import DataError

__all__ = ["PREPROCESS_VERSION", "SliceCache", "prepare_cases"]

log = logging.getLogger("wsad.data")

#: Bump whenever prepare_case's output changes for the same inputs and config.
PREPROCESS_VERSION = "3"  # 2: crop boxes of RASALoRE's frame; 3: brain from a mask file or estimated, not "≠ 0"
_ARRAYS = (
    "images",
    "brain_masks",
    "native_masks",
    "native_brain",
    "lesion_pixels",
    "slice_indices",
    "affine",
    "crop_boxes",
)
_STALE_SECONDS = 3600.0


class SliceCache:
    """Prepared cases on disk, keyed by content.

    Args:
        root: the cache folder; defaults to ``<cache root>/slices``.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_slice_cache_root()
        self.hasher = FileHasher(self.root / "hashes")
        self._cleaned = False

    def key(self, case: CaseRecord, modalities: Sequence[str], config: PreprocessConfig, adapter: str = "") -> str:
        """The entry key of ``case`` prepared with ``modalities`` and ``config``.

        Raises:
            DataError: a source file does not exist.
        """
        refs = [("image", m, case.images[m]) for m in modalities if m in case.images]
        if case.mask is not None:
            refs.append(("mask", "", case.mask))
        if case.brain is not None:
            refs.append(("brain", "", case.brain))
        payload = {
            "version": PREPROCESS_VERSION,
            "config": config.model_dump(mode="json"),
            "modalities": list(modalities),
            "adapter": adapter,
            "case_id": case.case_id,
            "files": [[role, name, ref.channel, self.hasher.digest(Path(ref.path))] for role, name, ref in refs],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def entry(self, key: str) -> Path:
        """Folder of the entry for ``key`` (which may not exist)."""
        return self.root / "entries" / key[:2] / key

    def load(self, key: str) -> PreparedCase | None:
        """The cached case, memory-mapped read-only, or ``None`` if absent or unusable."""
        folder = self.entry(key)
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            return None
        case_id = "?"
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("version") != PREPROCESS_VERSION:
                return None
            case_id = str(meta["case_id"])
            native_shape = (int(meta["native_shape"][0]), int(meta["native_shape"][1]), int(meta["native_shape"][2]))
            arrays = load_verified(folder, meta.get("arrays") or {}, _ARRAYS)
            check_structure(arrays, native_shape)
            return PreparedCase(
                case_id=case_id,
                modalities=tuple(meta["modalities"]),
                native_shape=native_shape,
                has_mask=bool(meta["has_mask"]),
                **arrays,
            )
        except Exception as error:
            # A damaged entry (disk full, manual edits, bit rot) is dropped and rebuilt, never trusted.
            reason = str(error) if isinstance(error, CacheEntryError) else f"{type(error).__name__}: {error}"
            log.warning("slice cache entry of case %s is unusable (%s) at %s; rebuilding it", case_id, reason, folder)
            self._discard(folder)
            return None

    def store(self, key: str, case: PreparedCase) -> Path:
        """Write ``case`` under ``key`` atomically; keep an existing entry if one appears first.

        Returns:
            The entry folder.
        """
        self._clean_stale()
        final = self.entry(key)
        temporary = self.root / "tmp" / f"{key}.{os.getpid()}.{uuid.uuid4().hex}"
        temporary.mkdir(parents=True)
        try:
            arrays = {name: np.ascontiguousarray(getattr(case, name)) for name in _ARRAYS}
            check_values(arrays, case.native_shape)  # what a verified load relies on
            for name, array in arrays.items():
                np.save(temporary / f"{name}.npy", array, allow_pickle=False)
            meta = {
                "version": PREPROCESS_VERSION,
                "case_id": case.case_id,
                "modalities": list(case.modalities),
                "native_shape": list(case.native_shape),
                "has_mask": case.has_mask,
                "created": time.time(),
                "arrays": file_records(temporary, arrays),  # checksums travel in the same atomic rename
            }
            # meta.json last: a folder without it is never an entry.
            (temporary / "meta.json").write_text(json.dumps(meta, indent=1))
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(temporary, final)
            except OSError:
                if not (final / "meta.json").is_file():
                    raise
                # Another run stored the same key first; its entry is equivalent.
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
        return final

    def _discard(self, folder: Path) -> None:
        trash = self.root / "tmp" / f"trash.{uuid.uuid4().hex}"
        try:
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder, trash)
        except OSError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def _clean_stale(self) -> None:
        """Delete temporary folders older than an hour (left by killed writers)."""
        if self._cleaned:
            return
        self._cleaned = True
        now = time.time()
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return
        for leftover in tmp.iterdir():
            try:
                if now - leftover.stat().st_mtime > _STALE_SECONDS:
                    shutil.rmtree(leftover, ignore_errors=True)
            except OSError:
                continue


def _prepare_and_store(
    cache: SliceCache, key: str, case: CaseRecord, modalities: tuple[str, ...], config: PreprocessConfig
) -> PreparedCase:
    fresh = prepare_case(case, modalities, config)
    try:
        cache.store(key, fresh)
    except OSError as error:
        log.warning("cannot write the slice cache at %s (%s); continuing without it", cache.root, error)
        return fresh
    except CacheEntryError as error:  # a preprocessing defect: never cache it, never hide it
        raise DataError(f"case {case.case_id}: prepared slices break the cache's rules: {error}") from None
    # Hand back the memory-mapped copy so that first and later runs see the same arrays.
    return cache.load(key) or fresh


def prepare_cases(
    index: DatasetIndex,
    modalities: tuple[str, ...],
    config: PreprocessConfig,
    cache: SliceCache | None,
    progress: ProgressReporter | None = None,
) -> list[PreparedCase]:
    """Every case of ``index`` prepared, from the cache where possible.

    Args:
        index: the dataset.
        modalities: channels, in order; every case must have them.
        config: preprocessing settings.
        cache: where prepared cases are kept; ``None`` prepares in memory only.
        progress: reporter for the ``"preprocessing"`` bar.

    Returns:
        The prepared cases in index order (memory-mapped when cached).

    Raises:
        DataError: a modality is missing, or a case's files are bad.
    """
    index.require_modalities(modalities)
    reporter = progress or SilentProgress()
    prepared: list[PreparedCase] = []
    hits = 0
    with reporter.task("preprocessing", total=len(index.cases)) as task:
        for case in index.cases:
            result = None
            if cache is not None:
                key = cache.key(case, modalities, config, index.name)
                result = cache.load(key)
                hits += result is not None
                if result is None:
                    result = _prepare_and_store(cache, key, case, modalities, config)
            prepared.append(result if result is not None else prepare_case(case, modalities, config))
            task.advance(1, case=case.case_id)
    # One line per call; quiet when a caller prepares case by case without a progress bar (wsad predict).
    log.log(
        logging.INFO if progress is not None else logging.DEBUG,
        "prepared %d cases (%d from the slice cache)",
        len(prepared),
        hits,
    )
    return prepared
