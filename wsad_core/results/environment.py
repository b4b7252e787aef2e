"""What a run ran on: package versions, hardware, seed and source revision (``env.json``).

Everything here is best effort: a missing package is left out, a missing ``git`` or a
directory outside a repository gives ``git_commit = None``; nothing raises.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from wsad_core.results._serial import to_plain, utc_now

__all__ = ["LIBRARIES", "capture_environment"]

# Libraries whose versions change results (numerics, IO, model code); recorded when installed.
LIBRARIES = (
    "wsad-core",
    "torch",
    "numpy",
    "scipy",
    "nibabel",
    "monai",
    "pydantic",
    "pluggy",
    "scikit-learn",
    "open_clip_torch",
    "segment-anything",
)
# Settings that change numerics or plugin loading; explicit names so no secret is captured.
_ENV_VARS = (
    "CUDA_VISIBLE_DEVICES",
    "CUBLAS_WORKSPACE_CONFIG",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "PYTHONHASHSEED",
    "WSAD_LOAD_PLUGINS",
    "WSAD_DISABLE_PLUGINS",
    "WSAD_PLUGINS_PATH",
    "WSAD_STRICT_PLUGINS",
    "WSAD_DATA",
)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _plugin_distributions() -> dict[str, str]:
    found: dict[str, str] = {}
    for entry_point in metadata.entry_points(group="wsad"):
        dist = getattr(entry_point, "dist", None)
        if dist is not None:
            found[str(dist.metadata["Name"])] = str(dist.version)
    return dict(sorted(found.items()))


def _torch_info() -> dict[str, Any] | None:
    try:
        import torch
    except ImportError:
        return None
    info: dict[str, Any] = {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "gpu": None,
    }
    if info["cuda_available"]:
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cudnn_version"] = torch.backends.cudnn.version()
    return info


def _git(*args: str) -> str | None:
    # Optional locks off: `git status` must never take index.lock in the user's repository.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", *args], cwd=os.getcwd(), capture_output=True, text=True, timeout=10, env=env, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _git_state() -> tuple[str | None, bool | None]:
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return None, None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return commit, (None if status is None else bool(status))


def capture_environment(*, device: str, seed: int, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Describe the software and hardware a run uses, as JSON-ready data.

    Args:
        device: The resolved device (``"cpu"``, ``"cuda:0"``).
        seed: The run's seed.
        extra: Further entries added at the top level (e.g. weights sha256s).

    Returns:
        ``timestamp`` (UTC ISO), ``python``, ``platform``, ``cpu_count``, ``device``, ``seed``,
        ``torch`` (version, threads, CUDA availability and version, GPU name) or ``None``,
        ``packages`` (name → version for wsad-core, every distribution with a ``wsad`` entry
        point and the libraries in :data:`LIBRARIES` that are installed), ``plugin_distributions``,
        ``git_commit`` and ``git_dirty`` of the working directory's repository (``None`` outside
        one), ``env_vars`` (the numerics-related variables that are set) and ``argv``.

    Raises:
        ValueError: A key of ``extra`` would overwrite a captured entry.
    """
    plugins = _plugin_distributions()
    packages = {name: v for name in LIBRARIES if (v := _version(name)) is not None}
    packages.update(plugins)
    commit, dirty = _git_state()
    environment: dict[str, Any] = {
        "timestamp": utc_now(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "seed": seed,
        "torch": _torch_info(),
        "packages": dict(sorted(packages.items())),
        "plugin_distributions": plugins,
        "git_commit": commit,
        "git_dirty": dirty,
        "env_vars": {name: os.environ[name] for name in _ENV_VARS if name in os.environ},
        "argv": list(sys.argv),
    }
    for key, value in (extra or {}).items():
        if key in environment:
            raise ValueError(f"capture_environment: extra key {key!r} would overwrite a captured entry")
        environment[key] = value
    return to_plain(environment)
