"""CLIP weights: resolution order, the clear error, the random-init deviation, loading a file, the parameter count."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from wsad_ddpt._weights import ENV_VAR, locate, resolve
from wsad_ddpt.config import DDPTOptions
from wsad_ddpt.generator import DEFECT_FIXES_NOTE, RANDOM_INIT_NOTE, DDPTGenerator

from wsad_core import DataError, WeightsNotFoundError
from wsad_core.testing import toy_batch


def _tiny_state_file(tiny, context_factory, tmp_path: Path, seed: int = 3) -> tuple[DDPTGenerator, Path]:
    source = DDPTGenerator(DDPTOptions(**tiny), context_factory(seed=seed, name="source"))
    path = tmp_path / "tiny-clip.pt"
    torch.save(source.network.clip.state_dict(), path)
    return source, path


def test_missing_weights_stop_with_a_clear_error(context_factory):
    with pytest.raises(WeightsNotFoundError) as caught:
        DDPTGenerator(DDPTOptions(), context_factory())  # faithful defaults: ViT-B-32, 'openai', no file here
    error = caught.value
    assert "ViT-B-32" in error.message
    assert "never downloads" in error.message
    for fix in ("generator.weights=PATH", ENV_VAR, "ViT-B-32.pt", "allow_random_init=true"):
        assert fix in error.hint


def test_an_explicit_path_that_does_not_exist_is_named(tiny, context_factory, tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(WeightsNotFoundError, match=r"nope\.pt"):
        DDPTGenerator(DDPTOptions(**{**tiny, "weights": missing}), context_factory())


def test_random_init_is_allowed_only_explicitly_and_then_says_so(tiny, context_factory, caplog):
    with caplog.at_level(logging.WARNING, logger="wsad.test"):
        generator = DDPTGenerator(DDPTOptions(**tiny), context_factory())
    weights = [d for d in generator.deviations if d.kind == "weights"]
    assert [(d.what, d.used) for d in weights] == [("CLIP weights", "random init")]
    assert "ViT-B-32.pt" in weights[0].published
    assert generator.notes == (DEFECT_FIXES_NOTE,)  # the deviation says it, not a note
    assert RANDOM_INIT_NOTE == "random-init CLIP — not the published method"
    assert any(RANDOM_INIT_NOTE in record.getMessage() for record in caplog.records)
    assert generator.provenance["weights"] is None
    assert generator.provenance["weights_origin"] == "random-init"


def test_resolution_order_option_env_cache(tmp_path, monkeypatch, isolated_weights):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes(b"x")
    b.write_bytes(b"y")
    cached = isolated_weights / "wsad-cache" / "weights" / "ViT-B-32-openai.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"z")
    assert resolve(DDPTOptions()).path == cached  # the wsad cache
    monkeypatch.setenv(ENV_VAR, str(b))
    assert resolve(DDPTOptions()).path == b  # the environment beats the cache
    assert resolve(DDPTOptions(weights=a)).path == a  # the option beats both
    assert locate(DDPTOptions(weights=tmp_path / "missing.pt")) is None  # the locator never raises


def test_weights_from_a_file_load_and_record_their_sha(tiny, context_factory, tmp_path):
    source, path = _tiny_state_file(tiny, context_factory, tmp_path)
    loaded = DDPTGenerator(DDPTOptions(**{**tiny, "weights": path}), context_factory(seed=9, name="loaded"))
    weights = [d for d in loaded.deviations if d.kind == "weights"]
    assert len(weights) == 1
    assert weights[0].used.startswith("tiny-clip.pt, sha256 ")  # a file, but not the official release
    assert "unverified" in weights[0].used
    for (name, a), (_, b) in zip(
        source.network.clip.state_dict().items(), loaded.network.clip.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    facts = loaded.provenance
    assert facts["weights"] == str(path)
    assert len(facts["weights_sha256"]) == 64
    assert facts["weights_origin"] == "option"
    with pytest.raises(WeightsNotFoundError, match="sha256"):
        DDPTGenerator(DDPTOptions(**{**tiny, "weights": path, "weights_sha256": "0" * 64}), context_factory())


def test_a_torchscript_archive_like_the_openai_release_loads(tiny, context_factory, tmp_path):
    source = DDPTGenerator(DDPTOptions(**tiny), context_factory(seed=4, name="source"))
    path = tmp_path / "scripted.pt"
    with pytest.warns(FutureWarning):  # torch.jit is deprecated, but it is the OpenAI file's format
        torch.jit.script(source.network.clip).save(str(path))
    loaded = DDPTGenerator(DDPTOptions(**{**tiny, "weights": path}), context_factory(name="loaded"))
    assert "torchscript" in loaded.provenance["weights_format"]
    for (name, a), (_, b) in zip(
        source.network.clip.state_dict().items(), loaded.network.clip.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_a_file_of_another_architecture_is_refused(tiny, context_factory, tmp_path):
    path = tmp_path / "wrong.pt"
    torch.save({"visual.conv1.weight": torch.zeros(3)}, path)
    with pytest.raises(DataError, match="cannot load CLIP weights"):
        DDPTGenerator(DDPTOptions(**{**tiny, "weights": path}), context_factory())


@pytest.fixture(scope="module")
def vit_b32(tmp_path_factory: pytest.TempPathFactory) -> tuple[DDPTGenerator, Path]:
    """A random-init ViT-B/32 generator and its CLIP state dict saved to a file (~600 MB, a few seconds)."""
    from wsad_core import BuildContext

    work = tmp_path_factory.mktemp("vit")
    options = DDPTOptions(allow_random_init=True, pretrained=None, epochs=1)
    generator = DDPTGenerator(options, BuildContext(work_dir=work / "memory", seed=7))
    path = work / "vit-b-32-random.pt"
    torch.save(generator.network.clip.state_dict(), path)
    return generator, path


def test_vit_b32_trainable_parameters_are_exactly_the_specified_ones(vit_b32):
    prompts = vit_b32[0].network.prompts
    shapes = {name: tuple(p.shape) for name, p in prompts.named_parameters()}
    assert shapes["coop.ctx"] == (16, 512)  # R§3.2: 8,192
    assert shapes["vpt"] == (11, 10, 768)  # 84,480
    assert shapes["cavpt.meta_net.weight"] == (768, 512)
    assert shapes["cavpt.q_proj.weight"] == shapes["cavpt.k_proj.weight"] == (32, 768)
    assert shapes["cavpt.v_proj.weight"] == (768, 768)
    assert shapes["cavpt.classifier.weight"] == (2, 768)
    assert shapes["cavpt.tokens"] == (10, 768)
    assert sum(p.numel() for p in prompts.parameters()) == 1_137_920
    assert sum(p.numel() for p in prompts.cavpt.parameters()) == 1_045_248
    assert not any(p.requires_grad for p in vit_b32[0].network.clip.parameters())


def test_vit_b32_loaded_from_a_file_matches_the_in_memory_model(vit_b32, context_factory):
    memory, path = vit_b32
    options = DDPTOptions(weights=path, pretrained=None, epochs=1)
    loaded = DDPTGenerator(options, context_factory(seed=7, name="file"))  # same seed: same prompt init
    assert [d.kind for d in loaded.deviations] == ["weights", "setting"]  # random file, epochs 1
    batch = toy_batch(n_train=2, n_test=3, size=64)
    outputs = []
    for generator in (memory, loaded):
        generator._fitted = True  # untrained prompts are enough to compare the two backbones
        with torch.no_grad():
            images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
            features = generator.network.zero_shot_image(images)
        outputs.append((features, generator.generate(batch.test)))
    torch.testing.assert_close(outputs[0][0], outputs[1][0], rtol=0, atol=0)
    np.testing.assert_array_equal(outputs[0][1].soft, outputs[1][1].soft)
    np.testing.assert_array_equal(outputs[0][1].masks, outputs[1][1].masks)
