"""A catalogue of bad inputs and faults a new user meets, each through the real CLI.

Every kind must end with exit status 1 or 2, a one-line ``error:`` naming what is wrong (and, where a file
is concerned, which file), no traceback and never "unexpected … report it". The ids are the kinds listed in
issue 14's closing note; ``pytest tests/cli/test_bad_input_catalogue.py -v`` prints them with their outcome.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from wsad_core.cli import main

FAST = [
    "-o",
    "data.preprocess.size=32",
    "-o",
    "data.preprocess.skip_first=4",
    "-o",
    "data.preprocess.skip_last=4",
    "-o",
    "data.preprocess.min_lesion_pixels=20",
    "--no-progress",
    "--overlays",
    "0",
]


@dataclass(frozen=True)
class Kind:
    """One bad input: how to make it (returns the CLI arguments) and a phrase the error must contain."""

    make: Callable[[Path, Path], list[str]]
    phrase: str


def _data(tmp: Path, phantoms: Path) -> Path:
    copy = tmp / "data"
    if not copy.exists():
        shutil.copytree(phantoms, copy)
    return copy


def _run(tmp: Path, data: Path, *extra: str) -> list[str]:
    return ["run", "--generator", "zscore", "--data", str(data), "--out", str(tmp / "out"), *FAST, *extra]


def _with_file(name: str, write: Callable[[Path], None]) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, phantoms: Path) -> list[str]:
        data = _data(tmp, phantoms)
        write(data / "P001" / f"P001_{name}.nii.gz")
        return _run(tmp, data)

    return make


def _nifti(array: np.ndarray, affine: np.ndarray | None = None) -> Callable[[Path], None]:
    return lambda path: nib.save(nib.Nifti1Image(array, np.eye(4) if affine is None else affine), path)


def _labels(values: tuple[float, ...]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        image = nib.load(path)
        labels = np.asarray(image.dataobj).astype(np.float32)
        labels.flat[: len(values)] = values
        nib.save(nib.Nifti1Image(labels, image.affine), path)

    return write


def _bytes(transform: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(transform(path.read_bytes()))


def _shape(tmp: Path, phantoms: Path) -> np.ndarray:
    return np.asarray(nib.load(next(phantoms.glob("P000/*flair*"))).dataobj)


def _image_like(phantoms: Path, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        image = nib.load(path)
        nib.save(nib.Nifti1Image(change(np.asarray(image.dataobj).astype(np.float32)), image.affine), path)

    return write


def _nan(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array[1, 1, 1] = np.nan
    return array


def _missing_modality(tmp: Path, phantoms: Path) -> list[str]:
    data = _data(tmp, phantoms)
    (data / "P002" / "P002_t1.nii.gz").unlink()
    return _run(tmp, data, "--modality", "flair", "--modality", "t1")


def _symlink(loop: bool) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, phantoms: Path) -> list[str]:
        data = _data(tmp, phantoms)
        target = data / "P001" / "P001_flair.nii.gz"
        target.unlink()
        if loop:
            other = data / "P001" / "other.nii.gz"
            other.symlink_to(target)
            target.symlink_to(other)
        else:
            target.symlink_to(tmp / "gone.nii.gz")
        return _run(tmp, data)

    return make


def _out_is_file(tmp: Path, phantoms: Path) -> list[str]:
    (tmp / "out").write_text("x")
    return _run(tmp, phantoms)


def _out_not_empty(tmp: Path, phantoms: Path) -> list[str]:
    (tmp / "out").mkdir()
    (tmp / "out" / "notes.txt").write_text("mine")
    return _run(tmp, phantoms)


def _out_holds_run(tmp: Path, phantoms: Path) -> list[str]:
    (tmp / "out").mkdir()
    (tmp / "out" / "run.json").write_text(json.dumps({"status": "finished", "config_fingerprint": "x"}))
    return _run(tmp, phantoms)


def _resume_other_config(tmp: Path, phantoms: Path) -> list[str]:
    (tmp / "out").mkdir()
    (tmp / "out" / "run.json").write_text(json.dumps({"status": "failed", "config_fingerprint": "another"}))
    return [*_run(tmp, phantoms), "--resume"]


def _bench_file(text: str) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, phantoms: Path) -> list[str]:
        path = tmp / "bench.yaml"
        path.write_text(text.replace("DATA", str(phantoms)))
        return ["bench", str(path), "--out", str(tmp / "bench")]

    return make


def _eval(setup: Callable[[Path, np.ndarray], None]) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, phantoms: Path) -> list[str]:
        maps = tmp / "maps"
        maps.mkdir()
        setup(maps, _shape(tmp, phantoms))
        return ["eval", str(maps), str(phantoms), "--threshold", "fixed:0.5", "--out", str(tmp / "eval")]

    return make


def _ids_differing_in_case(tmp: Path, phantoms: Path) -> list[str]:
    # Distinct ids that are one file on macOS and Windows (ids like "a b" and "a_b" get distinct stems).
    for folder, pattern in (("images", "*flair*"), ("masks", "*seg*")):
        (tmp / "folder" / folder).mkdir(parents=True)
        source = next(phantoms.glob(f"P000/{pattern}"))
        for name in ("Case1", "case1"):
            shutil.copy(source, tmp / "folder" / folder / f"{name}.nii.gz")
    folder = ["--data", str(tmp / "folder"), "--adapter", "folder"]
    return ["run", "--generator", "zscore", *folder, "--out", str(tmp / "o")]


def _pickled_weights(tmp: Path, phantoms: Path) -> list[str]:
    torch.save({"model": {"weight": torch.zeros(1)}, "extra": Path("x")}, tmp / "evil.pth")  # a pickled object
    return _run(tmp, phantoms, "--refiner", "medsam", "-o", f"refiner.weights={tmp / 'evil.pth'}")


def _config_file(text: str | None) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, phantoms: Path) -> list[str]:
        path = tmp / "run.yaml"
        if text is not None:
            path.write_text(text)
        return _run(tmp, phantoms, "-c", str(path))

    return make


_NOT_GZIP = _bytes(lambda raw: b"not a nifti file at all" * 20)
_TRUNCATED = _bytes(lambda raw: raw[: len(raw) // 2])
_FLIPPED = _bytes(lambda raw: gzip.compress(bytearray(gzip.decompress(raw))[:200] + b"\xff" * 10))
_BENCH = "name: {name}\ndatasets: [{{name: d, source: DATA}}]\npipelines: [{{label: z, generator: {{name: zscore}}}}]\n"

KINDS: dict[str, Kind] = {
    "data folder does not exist": Kind(lambda t, p: _run(t, t / "nowhere"), "does not exist"),
    "data path is a file": Kind(lambda t, p: _run(t, next(p.glob("P000/*flair*"))), "P000_flair.nii.gz"),
    "data folder no adapter recognises": Kind(lambda t, p: _run(t, t), "no dataset adapter recognises"),
    "unknown adapter": Kind(lambda t, p: [*_run(t, p), "--adapter", "bratz"], "bratz"),
    "image is not NIfTI": Kind(_with_file("flair", _NOT_GZIP), "P001_flair.nii.gz"),
    "image truncated": Kind(_with_file("flair", _TRUNCATED), "corrupt or truncated"),
    "image header damaged": Kind(_with_file("flair", _FLIPPED), "P001_flair.nii.gz"),
    "image with NaN voxels": Kind(lambda t, p: _with_file("flair", _image_like(p, _nan))(t, p), "NaN"),
    "image all zero": Kind(lambda t, p: _with_file("flair", _image_like(p, np.zeros_like))(t, p), "all zero"),
    "image 4-D": Kind(_with_file("flair", _nifti(np.ones((48, 48, 36, 2), np.float32))), "P001_flair.nii.gz"),
    "image 2-D": Kind(_with_file("flair", _nifti(np.ones((48, 48), np.float32))), "P001_flair.nii.gz"),
    "mask shape differs": Kind(_with_file("seg", _nifti(np.zeros((40, 48, 36), np.uint8))), "shape"),
    "mask affine differs": Kind(
        _with_file("seg", _nifti(np.zeros((48, 48, 36), np.uint8), np.diag([2.0, 2.0, 2.0, 1.0]))), "affine"
    ),
    "mask negative labels": Kind(_with_file("seg", _labels((-1.0,))), "negative label values (-1)"),
    "mask fractional labels": Kind(_with_file("seg", _labels((0.5,))), "non-integer label values (0.5)"),
    "modality missing from one case": Kind(_missing_modality, "t1 is missing from 1 of 6 cases: P002"),
    "modality absent from dataset": Kind(lambda t, p: [*_run(t, p), "--modality", "t2"], "has no t2"),
    "dangling symlink": Kind(_symlink(loop=False), "dangling symbolic link"),
    "looping symlink": Kind(_symlink(loop=True), "symbolic link loop"),
    "unknown generator": Kind(lambda t, p: ["run", "--generator", "zscor", "--data", str(p)], "zscor"),
    "unknown option": Kind(lambda t, p: _run(t, p, "-o", "generator.nope=1"), "nope"),
    "option out of range": Kind(lambda t, p: _run(t, p, "-o", "data.preprocess.size=3"), "size"),
    "override without =": Kind(lambda t, p: _run(t, p, "-o", "generator.threshold"), "key=value"),
    # Not YAML: taken as the text "[1,", which the option then rejects by name.
    "override unparsable value": Kind(lambda t, p: _run(t, p, "-o", "generator.threshold=[1,"), "threshold"),
    "bad lesion_labels": Kind(lambda t, p: _run(t, p, "-o", "data.preprocess.lesion_labels=[0]"), "lesion_labels"),
    "bad threshold rule": Kind(lambda t, p: _run(t, p, "--threshold", "best"), "best"),
    "config file missing": Kind(_config_file(None), "run.yaml"),
    "config file not YAML": Kind(_config_file("data: [unclosed\n"), "run.yaml"),
    "config file unknown key": Kind(_config_file("colour: blue\n"), "colour"),
    "--out is a file": Kind(_out_is_file, "is a file"),
    "--out holds other files": Kind(_out_not_empty, "holds no wsad run"),
    "--out holds a run, no --resume": Kind(_out_holds_run, "--resume"),
    "--resume with another configuration": Kind(_resume_other_config, "config fingerprint"),
    "case ids differing only in letter case": Kind(_ids_differing_in_case, "Case1"),
    "pickled weights file": Kind(_pickled_weights, "pickled Python objects"),
    "bench name traversal": Kind(_bench_file(_BENCH.format(name="../../escape")), "escape"),
    "bench name absolute": Kind(_bench_file(_BENCH.format(name="/tmp/abs")), "/tmp/abs"),
    "bench file not YAML": Kind(_bench_file("name: [x\n"), "bench.yaml"),
    "bench file missing": Kind(lambda t, p: ["bench", str(t / "none.yaml")], "none.yaml"),
    "eval folder missing": Kind(lambda t, p: ["eval", str(t / "none"), str(p), "--threshold", "fixed:0.5"], "none"),
    "eval maps named for no case": Kind(
        _eval(lambda m, a: nib.save(nib.Nifti1Image(a.astype(np.float32), np.eye(4)), m / "P000_pred.nii.gz")),
        "P000_pred.nii.gz",
    ),
    "eval map of another shape": Kind(
        _eval(lambda m, a: nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.float32), np.eye(4)), m / "P000.nii.gz")),
        "P000.nii.gz",
    ),
    "eval map with NaN": Kind(
        _eval(lambda m, a: nib.save(nib.Nifti1Image(_nan(a.astype(np.float32)), np.eye(4)), m / "P000.nii.gz")),
        "NaN",
    ),
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path_factory.getbasetemp() / "wsad-cache"))


@pytest.mark.parametrize("kind", list(KINDS), ids=list(KINDS))
def test_bad_input_ends_in_one_clear_line(kind: str, tmp_path: Path, phantom_dataset: Path, capsys) -> None:
    spec = KINDS[kind]
    arguments = spec.make(tmp_path, phantom_dataset)
    status = main(arguments)
    err = capsys.readouterr().err
    text = " ".join(err.split())
    assert status in (1, 2), f"{kind}: exit status {status}\n{err}"
    assert "Traceback" not in err
    assert "unexpected" not in text, text
    assert spec.phrase in text, f"{kind}: {spec.phrase!r} not in: {text}"
