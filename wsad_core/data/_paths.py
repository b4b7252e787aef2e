"""Where wsad keeps its caches: ``$WSAD_CACHE`` or ``~/.cache/wsad``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_root", "default_slice_cache_root"]


def default_cache_root() -> Path:
    """The cache root: ``$WSAD_CACHE`` when set and not empty, else ``~/.cache/wsad``.

    Returns:
        The folder (not created here).
    """
    configured = os.environ.get("WSAD_CACHE", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "wsad"


def default_slice_cache_root() -> Path:
    """Folder of the preprocessed-slice cache, ``<cache root>/slices``."""
    return default_cache_root() / "slices"
