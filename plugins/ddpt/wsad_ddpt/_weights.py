"""Where the frozen CLIP's weights come from; nothing is ever downloaded.

Order (shared/docs/environment.md §3): the ``weights`` option → ``$WSAD_CLIP_WEIGHTS`` →
``$WSAD_CACHE/weights/`` (default ``~/.cache/wsad/weights/``) → the file of the ``pretrained``
tag if open_clip's own cache already holds it. Without any of them the run stops with
:class:`~wsad_core.WeightsNotFoundError`, unless ``allow_random_init`` is set.

This module imports neither torch nor open_clip at import time, so that ``wsad plugins`` can ask
whether the weights are present without paying for either.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from wsad_core import WeightsNotFoundError

if TYPE_CHECKING:
    from wsad_ddpt.config import DDPTOptions

__all__ = [
    "ENV_VAR",
    "OPENAI_VIT_B_32_SHA256",
    "OPENAI_VIT_B_32_URL",
    "WeightsSource",
    "cache_candidates",
    "locate",
    "resolve",
    "sha256_of",
]

ENV_VAR = "WSAD_CLIP_WEIGHTS"
#: The OpenAI release file (a TorchScript archive, ≈ 338 MiB); its sha256 is part of the URL.
OPENAI_VIT_B_32_SHA256 = "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"
OPENAI_VIT_B_32_URL = f"https://openaipublic.azureedge.net/clip/models/{OPENAI_VIT_B_32_SHA256}/ViT-B-32.pt"
_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
Origin = Literal["option", "env", "wsad-cache", "open_clip-cache", "random-init"]


@dataclass(frozen=True, slots=True)
class WeightsSource:
    """The weights a run uses.

    Attributes:
        path: the checkpoint file, ``None`` for a random initialisation.
        origin: how it was found.
    """

    path: Path | None
    origin: Origin


def _cache_root() -> Path:
    configured = os.environ.get("WSAD_CACHE", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "wsad"


def cache_candidates(model: str, tag: str | None) -> list[Path]:
    """Files looked for under ``$WSAD_CACHE/weights/``, in order."""
    folder = _cache_root() / "weights"
    stems = [f"{model}-{tag}"] if tag else []
    if model == "ViT-B-32" and tag in (None, "openai"):
        stems.append("ViT-B-32")  # the OpenAI release keeps its own file name
    return [folder / f"{stem}{suffix}" for stem in stems for suffix in _SUFFIXES]


def _open_clip_cached(model: str, tag: str) -> Path | None:
    """The tag's file if open_clip's URL cache or the Hugging Face cache already has it."""
    try:
        from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
        from open_clip.pretrained import get_pretrained_cfg
    except ImportError:  # pragma: no cover - open_clip is a dependency
        return None
    cfg = get_pretrained_cfg(model, tag) or {}
    url = cfg.get("url", "")
    if url:
        target = Path.home() / ".cache" / "clip" / os.path.basename(url)
        if target.is_file():
            return target
    hub = cfg.get("hf_hub", "")
    if hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        repo, filename = os.path.split(hub)
        for name in [filename] if filename else [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME]:
            found = try_to_load_from_cache(repo, name)
            if isinstance(found, str) and os.path.isfile(found):
                return Path(found)
    return None


def _explicit(path: Path, origin: Origin, what: str) -> WeightsSource:
    path = path.expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"ddpt: CLIP weights file {path} (from {what}) does not exist",
            hint=f"fix the path, or unset it to fall back to $WSAD_CACHE/weights/; get ViT-B-32.pt from "
            f"{OPENAI_VIT_B_32_URL}",
        )
    return WeightsSource(path, origin)


def resolve(options: DDPTOptions, *, search_open_clip: bool = True) -> WeightsSource | None:
    """The first weights file found for ``options``, or ``None``.

    Raises:
        WeightsNotFoundError: an explicitly given path (option or environment) does not exist.
    """
    if options.weights is not None:
        return _explicit(Path(options.weights), "option", "the 'weights' option")
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _explicit(Path(env), "env", f"${ENV_VAR}")
    for candidate in cache_candidates(options.model, options.pretrained):
        if candidate.is_file():
            return WeightsSource(candidate, "wsad-cache")
    if search_open_clip and options.pretrained:
        found = _open_clip_cached(options.model, options.pretrained)
        if found is not None:
            return WeightsSource(found, "open_clip-cache")
    return None


def locate(options: DDPTOptions) -> Path | None:
    """``WeightsInfo.locate``: the weights path for ``options`` or ``None`` (never raises)."""
    try:
        source = resolve(options)
    except WeightsNotFoundError:
        return None
    return None if source is None else source.path


def require(options: DDPTOptions) -> WeightsSource:
    """The weights to load, a random-init marker when allowed, or a clear error.

    Raises:
        WeightsNotFoundError: nothing found and ``allow_random_init`` is false.
    """
    source = resolve(options)
    if source is not None:
        return source
    if options.allow_random_init:
        return WeightsSource(None, "random-init")
    names = sorted({p.stem for p in cache_candidates(options.model, options.pretrained)})
    looked = f"{_cache_root() / 'weights'}/{{{','.join(names)}}}.{{safetensors,bin,pt,pth}}" if names else "-"
    raise WeightsNotFoundError(
        f"ddpt: no CLIP weights for model {options.model!r} (pretrained {options.pretrained!r}): the 'weights' "
        f"option and ${ENV_VAR} are empty, no {looked}, and open_clip's cache has no file for the tag "
        f"(wsad never downloads)",
        hint=f"download the OpenAI ViT-B/32 file ViT-B-32.pt (≈ 338 MiB, sha256 {OPENAI_VIT_B_32_SHA256[:12]}…) "
        f"from {OPENAI_VIT_B_32_URL} (or open_clip_pytorch_model.bin of timm/vit_base_patch32_clip_224.openai) "
        f"and pass -o generator.weights=PATH, set ${ENV_VAR}=PATH or copy it to "
        f"{_cache_root() / 'weights' / 'ViT-B-32.pt'}; for a smoke run only, -o generator.allow_random_init=true "
        f"(random-init CLIP — not the published method)",
    )


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    """sha256 of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
