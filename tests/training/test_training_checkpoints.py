from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from wsad_core.errors import ContractError, DataError
from wsad_core.training import load_weights, read_checkpoint, save_weights


class _Custom:
    pass


def _net(seed: int, width: int = 8) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, width, 3), nn.BatchNorm2d(width), nn.Conv2d(width, 1, 1))


def test_round_trip_restores_weights_and_meta(tmp_path):
    source, target = _net(0), _net(1)
    meta = {"epoch": 3, "modalities": ("flair", "t2"), "options": {"lr": 1e-3}}
    path = save_weights(tmp_path / "sub" / "model.pt", source, meta)
    assert path.is_file()
    loaded = load_weights(path, target)
    assert loaded == {"epoch": 3, "modalities": ["flair", "t2"], "options": {"lr": 1e-3}}
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key])
    # The file is a plain weights_only payload: no custom classes are needed to read it.
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "wsad-weights/1"


def test_no_temporary_files_are_left(tmp_path):
    save_weights(tmp_path / "model.pt", _net(0), {})
    save_weights(tmp_path / "model.pt", _net(1), {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_weights(tmp_path / "absent.pt", _net(0))


def test_corrupt_and_truncated_files_are_data_errors(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DataError, match="cannot be read"):
        load_weights(garbage, _net(0))
    good = save_weights(tmp_path / "good.pt", _net(0), {})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match="cannot be read"):
        read_checkpoint(truncated)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "wsad-weights/1", "state_dict": {}, "meta": _Custom()}, path)
    with pytest.raises(DataError, match=r"pickled Python objects \(.*_Custom\).*never loads") as info:
        read_checkpoint(path)
    message = f"{info.value.message} {info.value.hint}"
    assert "weights_only" not in message, "torch's advice to turn the check off is not repeated"
    assert "\x1b" not in message
    assert "state_dict" in info.value.hint
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(DataError):
        read_checkpoint(plain)


def test_foreign_files_and_wrong_architectures_are_data_errors(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save(_net(0).state_dict(), foreign)
    with pytest.raises(DataError, match="not a wsad weights file"):
        load_weights(foreign, _net(0))
    path = save_weights(tmp_path / "narrow.pt", _net(0, width=8), {})
    with pytest.raises(DataError, match="do not fit Sequential"):
        load_weights(path, _net(0, width=16))


def test_meta_must_be_json_serialisable(tmp_path):
    with pytest.raises(ContractError, match="JSON"):
        save_weights(tmp_path / "model.pt", _net(0), {"bad": object()})
    assert not (tmp_path / "model.pt").exists()
