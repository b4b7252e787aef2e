"""MedSAM ViT-B through segment-anything: weights resolution, loading, the clear error, and its preprocessing.

The real MedSAM checkpoint is not available offline; these tests write a checkpoint from a randomly
initialised SAM ViT-B (~375 MB, a few seconds) and check that exactly those weights are loaded.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from wsad_medsam._loading import _module, build_vit_b_module, load_backend
from wsad_medsam._weights import ENV_VAR, locate_weights
from wsad_medsam.backends import vit_b_backend
from wsad_medsam.config import MedSAMBoxOptions, MedSAMRefinerOptions

from wsad_core import WeightsNotFoundError


@pytest.fixture
def no_user_weights(monkeypatch, tmp_path):
    """No option, no environment variable and an empty cache dir."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("WSAD_CACHE", str(tmp_path / "cache"))


def test_missing_weights_raise_a_clear_error(context, no_user_weights, tmp_path):
    with pytest.raises(WeightsNotFoundError) as caught:
        load_backend(MedSAMBoxOptions(backend="vit_b"), context)
    text = str(caught.value)
    assert "medsam_vit_b.pth" in text
    assert ENV_VAR in text
    assert "weights=PATH" in text
    assert "bowang-lab/MedSAM" in text
    assert "backend=lite" in text
    with pytest.raises(WeightsNotFoundError, match=r"elsewhere\.pth"):
        load_backend(MedSAMBoxOptions(backend="vit_b", weights=tmp_path / "elsewhere.pth"), context)
    assert locate_weights("vit_b", None) is None


def test_factory_fails_early_without_weights(no_user_weights, tmp_path):
    from wsad_core import BuildContext, PluginHost

    host = PluginHost(disabled=())
    with pytest.raises(WeightsNotFoundError, match=ENV_VAR):
        host.create("refiner", "medsam", {"backend": "vit_b"}, BuildContext(work_dir=tmp_path))


def test_random_init_checkpoint_loads_exactly_through_segment_anything(context, no_user_weights, monkeypatch, tmp_path):
    torch.manual_seed(0)
    reference = build_vit_b_module()
    path = tmp_path / "medsam_vit_b.pth"
    torch.save(reference.state_dict(), path)
    expected = {name: value.clone() for name, value in list(reference.state_dict().items())[::40]}
    del reference
    monkeypatch.setenv(ENV_VAR, str(path))  # found through the environment variable
    assert locate_weights("vit_b", None) == path
    try:
        backend = load_backend(MedSAMRefinerOptions(backend="vit_b"), context)
        loaded = backend.model.state_dict()
        for name, value in expected.items():
            assert torch.equal(loaded[name], value), name
        assert type(backend.model).__name__ == "Sam"
        assert backend.input_size == 1024
        assert backend.provenance["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert backend.provenance["weights_origin"] == f"${ENV_VAR}"
        from wsad_medsam.refiner import MedSAMRefiner

        refiner = MedSAMRefiner(MedSAMRefinerOptions(backend="vit_b"), context, backend=backend)
        weights = [d for d in refiner.deviations if d.kind == "weights"]
        assert len(weights) == 1  # no published checksum: the file cannot be verified
        assert weights[0].used.startswith(f"medsam_vit_b.pth, sha256 {backend.provenance['weights_sha256'][:12]}")
        assert "unverified" in weights[0].used
        assert not [d for d in refiner.deviations if d.kind == "substitute"]
        torch.save({"image_encoder.pos_embed": torch.zeros(1)}, tmp_path / "wrong.pth")
        with pytest.raises(WeightsNotFoundError, match="not a MedSAM ViT-B checkpoint"):
            load_backend(MedSAMRefinerOptions(backend="vit_b", weights=tmp_path / "wrong.pth"), context)
    finally:
        _module.cache_clear()  # release the ~375 MB model


def test_vit_b_preprocessing_is_medsam_s_own(helpers):
    """Stretch to 1024² (no aspect-preserving pad), min-max to [0, 1], no pixel mean/std, 3 channels."""
    backend = vit_b_backend(
        helpers.PainterModel(1024), device="cpu", amp=False, weights="stub", sha256="0" * 64, origin="test"
    )
    image = np.zeros((200, 320), np.float32)
    image[150:, 300:] = 0.5  # bottom-right corner: must reach the bottom-right of the model input
    prepared = backend.prepare(image)
    assert prepared.shape == (3, 1024, 1024)
    assert float(prepared.min()) == 0.0
    assert float(prepared.max()) == 1.0
    assert torch.equal(prepared[0], prepared[2])
    background = float(prepared[0, 500, 500])  # bicubic under/overshoot at the corner's edges sets min and max
    assert float(prepared[0, 0, 0]) == pytest.approx(background, abs=1e-6)
    assert float(prepared[0, 1000, 1000]) > background + 0.5  # stretched to the corner, not padded
    assert backend.frame((200, 320)).scale == (1024 / 320, 1024 / 200)


@pytest.mark.slow
def test_vit_b_full_forward_on_cpu(helpers, context, no_user_weights, tmp_path):
    """One real ViT-B forward (~15 s on CPU): shapes and range only — random weights segment nothing."""
    from wsad_medsam.refiner import MedSAMRefiner

    torch.manual_seed(0)
    path = tmp_path / "random_vit_b.pth"
    torch.save(build_vit_b_module().state_dict(), path)
    try:
        refiner = MedSAMRefiner(MedSAMRefinerOptions(backend="vit_b", weights=path), context)
        mask = helpers.disc((96, 128), (40, 80), 15)
        out = refiner.refine(helpers.slices_of(mask[None, None] * 0.8 + 0.1), helpers.masks_of(mask[None]))
        assert out.soft.shape == (1, 96, 128)
        assert 0.0 <= out.soft.min() <= out.soft.max() <= 1.0
    finally:
        _module.cache_clear()
