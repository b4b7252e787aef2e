"""Build the frozen open_clip CLIP that DDPT prompts: weights loading, freezing, supported towers.

Weights go through open_clip's own loader (``create_model(name, pretrained=PATH, weights_only=True)``),
so OpenAI and open_clip state dicts, ``.bin``/``.pt``/``.safetensors``, are all accepted. The OpenAI
release file ``ViT-B-32.pt`` is a TorchScript archive, which ``weights_only`` loading refuses; it is
read with ``torch.jit.load`` (TorchScript, no Python pickle) and only its state dict is kept.
"""

from __future__ import annotations

import warnings
import zipfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from wsad_core import ConfigError, DataError, WeightsNotFoundError
from wsad_core.training import derive_seed
from wsad_ddpt._weights import OPENAI_VIT_B_32_SHA256, sha256_of

if TYPE_CHECKING:
    from wsad_ddpt._weights import WeightsSource

__all__ = ["BUNDLED_MODELS", "build_clip", "check_supported", "check_weights_sha", "register_bundled_configs"]

#: open_clip configs shipped with the plugin (tests and smoke runs only, never the method's backbone).
BUNDLED_MODELS = ("ddpt-tiny",)
_INIT_STREAM = 11  # derive_seed key of a random CLIP initialisation
# Entries of TorchScript state dicts that open_clip models do not keep (metadata, the causal mask).
_JIT_EXTRAS = ("input_resolution", "context_length", "vocab_size", "attn_mask")


@cache
def register_bundled_configs() -> None:
    """Make the bundled model configs (``ddpt-tiny``) known to open_clip, once per process."""
    import open_clip

    open_clip.add_model_config(Path(__file__).parent / "model_configs")


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") or "/code/" in name for name in archive.namelist())


def _create(model_name: str, quick_gelu: bool, pretrained: str | None) -> nn.Module:
    import open_clip

    if model_name in BUNDLED_MODELS:
        register_bundled_configs()
    if open_clip.get_model_config(model_name) is None:
        raise ConfigError(
            f"ddpt: unknown open_clip model {model_name!r}",
            hint="use an open_clip ViT name such as 'ViT-B-32' (open_clip.list_models()) or 'ddpt-tiny'",
        )
    return open_clip.create_model(
        model_name, pretrained=pretrained, force_quick_gelu=quick_gelu, device="cpu", precision="fp32"
    )


def _load_torchscript_state(model: nn.Module, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, but it is the file's format
        state = torch.jit.load(str(path), map_location="cpu").state_dict()
    for key in _JIT_EXTRAS:
        state.pop(key, None)
    model.load_state_dict(state, strict=True)


def build_clip(model_name: str, source: WeightsSource, *, quick_gelu: bool, seed: int) -> tuple[nn.Module, dict]:
    """The frozen CLIP for ``model_name`` with the weights of ``source``.

    Random initialisation (``source.path is None``) draws from a private stream derived from
    ``seed``, so it is reproducible and leaves the global RNG untouched.

    Returns:
        The model (eval mode, every parameter ``requires_grad=False``, fp32, on CPU) and facts
        about the weights for the run's provenance.

    Raises:
        ConfigError: unknown model or unsupported tower.
        DataError: the file cannot be read or does not fit the model.
    """
    facts: dict[str, Any] = {"clip_model": model_name, "quick_gelu": quick_gelu, "weights_origin": source.origin}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, _INIT_STREAM))
        if source.path is None:
            model = _create(model_name, quick_gelu, None)
            facts["weights"] = None
        else:
            path = Path(source.path)
            digest = sha256_of(path)
            facts |= {"weights": str(path), "weights_sha256": digest, "weights_bytes": path.stat().st_size}
            facts["weights_are_openai_release"] = digest == OPENAI_VIT_B_32_SHA256
            try:
                if _is_torchscript(path):
                    model = _create(model_name, quick_gelu, None)
                    _load_torchscript_state(model, path)
                    facts["weights_format"] = "torchscript (state dict extracted)"
                else:
                    model = _create(model_name, quick_gelu, str(path))
                    facts["weights_format"] = "state dict (weights_only)"
            except ConfigError:
                raise
            except (RuntimeError, ValueError, KeyError, OSError) as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise DataError(
                    f"ddpt: cannot load CLIP weights {path} into open_clip model {model_name!r}: {first}",
                    hint="pass a CLIP checkpoint of this architecture (ViT-B-32.pt for 'ViT-B-32'), "
                    "or choose the matching 'model'",
                ) from error
    check_supported(model, model_name)
    model.eval()
    model.requires_grad_(False)
    return model, facts


def check_weights_sha(facts: dict, expected: str | None) -> None:
    """Stop when the loaded file's sha256 differs from ``expected``.

    Raises:
        WeightsNotFoundError: a mismatch (the right weights are not here).
    """
    actual = facts.get("weights_sha256")
    if expected and actual != expected:
        raise WeightsNotFoundError(
            f"ddpt: CLIP weights {facts.get('weights')} have sha256 {actual}, expected {expected}",
            hint="point 'weights' at the expected file, or clear 'weights_sha256'",
        )


def check_supported(model: nn.Module, model_name: str) -> None:
    """DDPT needs open_clip's own ViT image tower and standard residual blocks.

    Raises:
        ConfigError: a timm/ModifiedResNet tower, attention pooling, or custom blocks.
    """
    from open_clip.transformer import VisionTransformer

    visual = getattr(model, "visual", None)
    problems = []
    if not isinstance(visual, VisionTransformer):
        problems.append(f"image tower is {type(visual).__name__}, not open_clip's VisionTransformer")
    else:
        if visual.attn_pool is not None or visual.pool_type != "tok" or visual.final_ln_after_pool:
            problems.append("the image tower does not pool the class token")
        block = visual.transformer.resblocks[-1]
        if not isinstance(getattr(block, "attn", None), nn.MultiheadAttention):
            problems.append("custom attention blocks (qk-norm, scaled cosine) are not supported")
        if len(visual.transformer.resblocks) < 2:
            problems.append("at least two layers are needed (VPT below, CAVPT in the last)")
    if not hasattr(model, "token_embedding") and not hasattr(getattr(model, "text", None), "token_embedding"):
        problems.append("the text tower is not open_clip's TextTransformer (HF text towers are not supported)")
    if problems:
        raise ConfigError(f"ddpt: model {model_name!r} is not supported: " + "; ".join(problems), hint="use 'ViT-B-32'")
