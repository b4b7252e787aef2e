"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wsad_core.data.synthetic import make_synthetic_case

REPO = Path(__file__).resolve().parents[1]
_SKIP_REAL = "real BraTS demo cases not found (set WSAD_DATA or provide <repo>/../shared/data/brats2018_demo)"


def real_data_root() -> Path | None:
    """The shared BraTS 2018 demo folder: ``$WSAD_DATA/brats2018_demo`` (or ``$WSAD_DATA`` itself),
    else ``<repo>/../shared/data/brats2018_demo``."""
    candidates = []
    if os.environ.get("WSAD_DATA"):
        base = Path(os.environ["WSAD_DATA"]).expanduser()
        candidates += [base / "brats2018_demo", base]
    candidates.append(REPO.parent / "shared" / "data" / "brats2018_demo")
    return next((c for c in candidates if (c / "case_0" / "FLAIR.nii.gz").is_file()), None)


@pytest.fixture(scope="session")
def real_root() -> Path:
    """The real BraTS cases; the test is skipped with a reason when they are absent."""
    root = real_data_root()
    if root is None:
        pytest.skip(_SKIP_REAL)
    return root


@pytest.fixture(scope="session")
def phantom_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six small synthetic patients (48x48x36 phantoms) in the official BraTS 2020 layout."""
    root = tmp_path_factory.mktemp("phantoms")
    for i in range(6):
        case = f"P{i:03d}"
        subject = make_synthetic_case((48, 48, 36), seed=i, lesions=1 + i % 2)
        names = {"flair": f"{case}_flair.nii.gz", "t1": f"{case}_t1.nii.gz", "seg": f"{case}_seg.nii.gz"}
        subject.write(root / case, names)
    return root


pytest_plugins = ["pytester"]
