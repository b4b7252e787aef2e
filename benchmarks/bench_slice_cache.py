"""Slice cache: cold preparation against warm, checksum-verified loads, as ratios measured in one run.

* **cold**: ``prepare_cases`` with an empty cache (NIfTI decoding, preprocessing, writing the entry);
* **warm, verified**: the same call on the filled cache — what every later run does: memory-mapped
  reads, each array's XXH3-128 digest and values checked (:mod:`wsad_core.data._cache_integrity`);
* **warm, unverified**: memory-mapping the entry's arrays only (what loads cost before checksums),
  to show what verification adds.

Issue 14's target: warm/cold ≥ 100×. Data: ``--data`` (default ``../shared/data/brats2018_demo``, or
``$WSAD_DATA``), FLAIR, the default preprocessing (256², slices 15..D-15). Usage::

    python benchmarks/bench_slice_cache.py [--data DIR] [--repeats 5] [--json benchmarks/results/slice_cache.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from wsad_core.data import PreprocessConfig, SliceCache, prepare_cases
from wsad_core.data.cache import _ARRAYS
from wsad_core.data.resolve import open_dataset
from wsad_core.plugins import PluginHost

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brats2018_demo"


def _seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("WSAD_DATA", DEFAULT_DATA)))
    parser.add_argument("--modality", default="flair")
    parser.add_argument("--repeats", type=int, default=5, help="warm loads timed (median); cold runs once")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    index = open_dataset(str(args.data), PluginHost())
    config = PreprocessConfig()
    modalities = (args.modality,)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "cache"
        start = time.perf_counter()
        prepare_cases(index, modalities, config, SliceCache(root))
        cold = time.perf_counter() - start

        def warm_verified() -> None:
            prepare_cases(index, modalities, config, SliceCache(root))

        cache = SliceCache(root)
        entries = [cache.entry(cache.key(case, modalities, config, index.name)) for case in index.cases]

        def warm_unverified() -> None:
            for entry in entries:
                for name in _ARRAYS:
                    np.load(entry / f"{name}.npy", mmap_mode="r", allow_pickle=False)

        warm_verified()  # page cache filled, as in a second run
        verified = _seconds(warm_verified, args.repeats)
        unverified = _seconds(warm_unverified, args.repeats)
        megabytes = sum(p.stat().st_size for p in root.rglob("*.npy")) / 2**20
    result = {
        "data": str(args.data),
        "cases": len(index.cases),
        "modality": args.modality,
        "entry_megabytes": round(megabytes, 1),
        "cold_s": round(cold, 3),
        "warm_verified_s": round(verified, 4),
        "warm_unverified_s": round(unverified, 4),
        "warm_over_cold_speedup": round(cold / verified, 1),
        "verification_cost_s_per_gb": round((verified - unverified) / (megabytes / 1024), 3),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    print(
        f"{len(index.cases)} cases ({megabytes:.0f} MB of arrays): cold {cold:.2f} s, warm verified {verified:.3f} s, "
        f"warm unverified {unverified:.4f} s -> cold / warm verified = {cold / verified:.0f}x (target >= 100x)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
