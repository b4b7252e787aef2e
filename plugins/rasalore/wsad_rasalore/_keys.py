"""The checkpoint directory key: resuming is safe only into a run with identical inputs."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from wsad_core import SliceSet
from wsad_rasalore._data import Prepared
from wsad_rasalore.config import RasaloreOptions

__all__ = ["checkpoint_key"]

# Options that change only prediction, not training: a run differing only in them resumes. With
# selection 'gt-val' the maps (mask_outside_brain, predict_modality) choose the checkpoint.
_INFERENCE_ONLY = {"mask_outside_brain", "predict_batch_size", "predict_modality"}
_SCORING_ONLY = {"predict_batch_size"}


def _hash_prepared(digest: hashlib._Hash, data: Prepared | None) -> None:
    if data is None:
        digest.update(b"none")
        return
    digest.update(np.asarray(data.positions, np.int64).tobytes())
    digest.update(np.ascontiguousarray(data.images.numpy()).tobytes())
    for masks in (data.ddpt_small, data.ddpt_large, data.sam_large):
        digest.update(b"none" if masks is None else np.packbits(masks.numpy()).tobytes())


def checkpoint_key(
    fmt: str,
    options: RasaloreOptions,
    seed: int,
    lore_seeds: dict[str, int],
    data: Prepared,
    held_out: Prepared | None,
    scored: SliceSet | None = None,
) -> str:
    """16 hex digits of sha256 over the format, training options, seeds and the prepared tensors.

    ``scored`` are the validation slices whose maps select the checkpoint (``gt-val``): their
    images and brain masks are part of the key.
    """
    exclude = _INFERENCE_ONLY if scored is None else _SCORING_ONLY
    training = options.model_dump(mode="json", exclude=exclude)
    digest = hashlib.sha256(json.dumps([fmt, training, seed, lore_seeds], sort_keys=True).encode())
    _hash_prepared(digest, data)
    _hash_prepared(digest, held_out)
    if scored is not None:
        digest.update(np.ascontiguousarray(scored.images).tobytes())
        digest.update(np.packbits(scored.brain_masks).tobytes())
    return digest.hexdigest()[:16]
