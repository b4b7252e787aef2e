"""Every case gets file names of its own, the same for the writers (maps, overlays) and for ``wsad eval``."""

from __future__ import annotations

import random
import re
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import nibabel as nib
import numpy as np
import pytest

from wsad_core.cli import main
from wsad_core.context import SilentProgress
from wsad_core.data.synthetic import make_synthetic_case
from wsad_core.errors import DataError
from wsad_core.pipeline.outputs import write_maps
from wsad_core.results import RunDirectory, case_file_stem, check_case_file_stems, read_map_volume

COLLIDING = [("a b", "a_b"), ("Müller", "Muller"), ("Müller", "M_ller")]
SAFE = ["BraTS20_Training_001", "BraTS-GLI-00001-000", "Brats18_TCIA_1", "case_003", "P000", "c1", "V1", "x.y", "_z"]
_STEM = re.compile(r"[A-Za-z0-9_%][A-Za-z0-9._%-]*")


@pytest.mark.parametrize("case_id", SAFE)
def test_safe_ids_are_their_own_stem(case_id):
    assert case_file_stem(case_id) == case_id


@pytest.mark.parametrize(("first", "second"), COLLIDING)
def test_ids_that_used_to_clean_to_one_name_get_distinct_reversible_stems(first, second):
    stems = case_file_stem(first), case_file_stem(second)
    assert stems[0] != stems[1]
    assert [unquote(s) for s in stems] == [first, second]
    check_case_file_stems([first, second])


def test_stems_are_unique_reversible_and_one_plain_file_name():
    rng = random.Random(0)
    alphabet = "aA1._-% /\\\x00~:üÜ*?\n"
    ids = {"".join(rng.choices(alphabet, k=rng.randint(1, 8))) for _ in range(2000)}
    ids |= {".", "..", "-x", "%41", "A", "%2E", ".hidden"}
    stems = {case_id: case_file_stem(case_id) for case_id in ids}
    assert len(set(stems.values())) == len(ids)
    for case_id, stem in stems.items():
        assert unquote(stem) == case_id
        assert _STEM.fullmatch(stem), (case_id, stem)
        assert stem not in (".", "..")


def test_unusable_ids_are_a_data_error():
    with pytest.raises(ValueError, match="empty case id"):
        case_file_stem("")
    with pytest.raises(DataError, match="too long"):
        check_case_file_stems(["ok", "ü" * 40])


def test_ids_that_differ_only_in_case_are_refused_naming_both():
    with pytest.raises(DataError, match=r"case ids 'Case1' and 'case1' differ only in letter case"):
        check_case_file_stems(["Case1", "b", "case1"])


@pytest.mark.parametrize(("first", "second"), COLLIDING)
def test_maps_of_colliding_ids_do_not_overwrite_each_other(tmp_path, first, second):
    run = RunDirectory.open(tmp_path / "run", config_fingerprint="f" * 64, resume=False)
    shape = (4, 5, 3)
    cases = {
        first: SimpleNamespace(native_shape=shape, affine=np.eye(4)),
        second: SimpleNamespace(native_shape=shape, affine=np.eye(4)),
    }
    slices = SimpleNamespace(case_ids=[first, second], slice_indices=np.array([1, 1]))
    maps = np.stack([np.full(shape[:2], 0.25, np.float32), np.full(shape[:2], 0.75, np.float32)])
    write_maps(run, SimpleNamespace(cases=cases, slices=slices), maps, SilentProgress())
    assert len(list(run.maps_dir.iterdir())) == 2
    for case_id, value in ((first, 0.25), (second, 0.75)):
        volume, _ = read_map_volume(run.map_path(case_id))
        assert volume[:, :, 1] == pytest.approx(value)
    assert run.overlay_path(first, 7) != run.overlay_path(second, 7)


def _folder_dataset(root: Path, ids: list[str]) -> Path:
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for seed, case_id in enumerate(ids):
        case = make_synthetic_case((32, 32, 16), seed=seed, modalities=("flair",))
        nib.save(
            nib.Nifti1Image(case.images["flair"].astype(np.int16), case.affine), root / "images" / f"{case_id}.nii.gz"
        )
        nib.save(nib.Nifti1Image(case.mask.astype(np.uint8), case.affine), root / "masks" / f"{case_id}.nii.gz")
    return root


def test_eval_reads_the_maps_named_as_run_writes_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path / "cache"))
    ids = ["a b", "a_b", "Müller", "Muller", "M_ller"]
    data = _folder_dataset(tmp_path / "data", ids)
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    for case_id in ids:
        mask = nib.load(data / "masks" / f"{case_id}.nii.gz")
        image = nib.Nifti1Image(np.asarray(mask.dataobj, np.float32), mask.affine)
        nib.save(image, predictions / f"{case_file_stem(case_id)}.nii.gz")
    code = main(
        [
            "eval",
            str(predictions),
            str(data),
            "--adapter",
            "folder",
            "--threshold",
            "fixed:0.5",
            "-o",
            "preprocess.skip_first=2",
            "-o",
            "preprocess.skip_last=2",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "without a map" not in err


def test_run_refuses_ids_that_would_share_files_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path / "cache"))
    data = _folder_dataset(tmp_path / "data", ["Case1", "case1", "c2", "c3"])
    out = tmp_path / "run"
    arguments = ["--data", str(data), "--adapter", "folder", "--out", str(out), "--no-progress"]
    code = main(["run", "--generator", "zscore", "--segmenter", "unet", *arguments])
    err = capsys.readouterr().err
    assert code != 0
    assert "case ids 'Case1' and 'case1' differ only in letter case" in err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npy")), "nothing was preprocessed"
    assert not (out / "stages").exists() or not any((out / "stages").iterdir())
