"""Fixtures for the data tests: tiny NIfTI layouts, a plugin host with the built-in adapters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from wsad_core import PluginHost, hookimpl
from wsad_core.data.adapters import dataset_specs
from wsad_core.data.synthetic import SyntheticCase, make_synthetic_case

REPO = Path(__file__).resolve().parents[2]
SHAPE = (32, 32, 24)


class DataPlugin:
    """Registers only the built-in dataset adapters (no entry points, no evaluators)."""

    @hookimpl
    def wsad_register_datasets(self) -> list:
        return dataset_specs()


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(entry_points=False, disabled=(), strict=True)
    host.register(DataPlugin(), name="data-adapters")
    return host


@pytest.fixture
def cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point WSAD_CACHE at a private folder."""
    root = tmp_path / "cache"
    monkeypatch.setenv("WSAD_CACHE", str(root))
    return root


def save(path: Path, array: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(array), np.eye(4) if affine is None else affine), path)
    return path


def phantom(seed: int = 0, lesions: int = 1, shape: tuple[int, int, int] = SHAPE, **kwargs: object) -> SyntheticCase:
    return make_synthetic_case(shape, seed=seed, lesions=lesions, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def write_layout(tmp_path: Path) -> Callable[..., Path]:
    """Write phantom cases under ``tmp_path/<name>`` with file names from ``naming(case_id)``."""

    def write(name: str, case_ids: list[str], naming: Callable[[str], dict[str, str]], **kwargs: object) -> Path:
        root = tmp_path / name
        for i, case_id in enumerate(case_ids):
            phantom(seed=i, **kwargs).write(root / case_id, naming(case_id))
        return root

    return write
