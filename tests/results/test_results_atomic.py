from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from wsad_core._atomic import TEMP_SUFFIX, remove_stale_temps
from wsad_core.results import atomic_save_npz, atomic_torch_save, atomic_write_bytes, atomic_write_text, atomic_writer


def _temps(directory: Path) -> list[Path]:
    return sorted(directory.glob(f".*{TEMP_SUFFIX}"))


def test_write_text_and_bytes_replace_target_and_leave_no_temp(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    atomic_write_text(target, "first\r\nline")
    assert target.read_bytes() == b"first\r\nline"  # no newline translation
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert _temps(target.parent) == []


def test_crash_mid_write_keeps_target_and_removes_temp(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    seen_temps = []

    def crash_mid_write() -> None:
        with atomic_writer(target) as handle:
            handle.write("half of the new content")
            handle.flush()
            seen_temps.extend(_temps(tmp_path))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        crash_mid_write()
    assert len(seen_temps) == 1  # the data really went to a temporary sibling
    assert target.read_text() == "old"
    assert _temps(tmp_path) == []


def test_crash_on_new_target_creates_nothing(tmp_path):
    target = tmp_path / "new.bin"

    def interrupted() -> None:
        with atomic_writer(target, "wb") as handle:
            handle.write(b"x")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_replace_keeps_target(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert _temps(tmp_path) == []


def test_killed_process_leaves_target_and_a_sweepable_temp(tmp_path):
    target = tmp_path / "cases.csv"
    target.write_text("complete old file\n")
    script = textwrap.dedent(
        f"""
        import os
        from wsad_core.results import atomic_writer
        with atomic_writer({str(target)!r}) as handle:
            handle.write("torn")
            handle.flush()
            os._exit(3)  # killed: no cleanup code runs
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False)
    assert done.returncode == 3
    assert target.read_text() == "complete old file\n"
    left = _temps(tmp_path)
    assert len(left) == 1
    assert left[0].read_text() == "torn"
    other = tmp_path / ".keep.tmp"
    other.write_text("not ours")
    assert remove_stale_temps(tmp_path) == left
    assert _temps(tmp_path) == []
    assert other.exists()


def test_written_file_has_normal_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    target = tmp_path / "p.txt"
    atomic_write_text(target, "x")
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_bad_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="modes"), atomic_writer(tmp_path / "x", "a"):
        pass


@pytest.mark.parametrize("compress", [True, False, "auto"])
def test_npz_round_trip(tmp_path, compress):
    rng = np.random.default_rng(0)
    arrays = {
        "soft": rng.random((3, 8, 8), dtype=np.float32),
        "masks": rng.random((3, 8, 8)) > 0.5,
        "ids": np.arange(3, dtype=np.int16),
    }
    path = tmp_path / "arrays.npz"
    atomic_save_npz(path, compress=compress, **arrays)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["ids", "masks", "soft"]
        for name, array in arrays.items():
            assert archive[name].dtype == array.dtype
            np.testing.assert_array_equal(archive[name], array)
    with zipfile.ZipFile(path) as archive:
        methods = {info.filename: info.compress_type for info in archive.infolist()}
    deflated = {True: {"soft", "masks", "ids"}, False: set(), "auto": {"masks", "ids"}}[compress]
    assert {name[:-4] for name, m in methods.items() if m == zipfile.ZIP_DEFLATED} == deflated


def test_npz_compression_shrinks_masks(tmp_path):
    masks = np.zeros((50, 64, 64), dtype=bool)
    masks[:, 10:30, 10:30] = True
    atomic_save_npz(tmp_path / "a.npz", compress="auto", masks=masks)
    assert (tmp_path / "a.npz").stat().st_size < masks.nbytes / 20


def test_npz_refuses_object_arrays_and_keeps_old_file(tmp_path):
    path = tmp_path / "arrays.npz"
    atomic_save_npz(path, x=np.ones(2))
    before = path.read_bytes()
    with pytest.raises(ValueError, match="pickle"):
        atomic_save_npz(path, x=np.array([{"a": 1}], dtype=object))
    assert path.read_bytes() == before
    assert _temps(tmp_path) == []


def test_torch_save_round_trip(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"weight": torch.arange(6.0).reshape(2, 3), "step": 7}
    path = tmp_path / "work" / "ckpt.pt"
    atomic_torch_save(state, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["step"] == 7
    assert torch.equal(loaded["weight"], state["weight"])
    assert _temps(path.parent) == []
