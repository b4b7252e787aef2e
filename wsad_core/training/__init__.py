"""Training utilities shared by every plugin: one loop, checkpoints, batching, augmentation.

Plugins never write their own epoch loop: :func:`train` gives all of them seeded,
resumable epochs, bf16 autocast on CUDA only, atomic ``weights_only`` checkpoints,
best-validation model selection and a progress bar.
"""

from __future__ import annotations

from wsad_core.device import autocast
from wsad_core.errors import NonFiniteLossError
from wsad_core.training._rng import derive_seed, epoch_generator
from wsad_core.training.augment import (
    AugmentConfig,
    augment_pairs,
    random_brightness,
    random_contrast,
    random_flip,
    random_gamma,
    random_noise,
    random_rot90,
    random_rotation,
)
from wsad_core.training.batching import minibatch_indices
from wsad_core.training.checkpoints import (
    WEIGHTS_FORMAT,
    load_weights,
    read_checkpoint,
    save_checkpoint,
    save_weights,
    torch_load_failure,
)
from wsad_core.training.history import Selection, TrainingHistory
from wsad_core.training.loop import CHECKPOINT_FORMAT, train
from wsad_core.training.monitoring import mean_slice_dice

__all__ = [
    "AugmentConfig",
    "CHECKPOINT_FORMAT",
    "NonFiniteLossError",
    "Selection",
    "TrainingHistory",
    "WEIGHTS_FORMAT",
    "augment_pairs",
    "autocast",
    "derive_seed",
    "epoch_generator",
    "load_weights",
    "mean_slice_dice",
    "minibatch_indices",
    "random_brightness",
    "random_contrast",
    "random_flip",
    "random_gamma",
    "random_noise",
    "random_rot90",
    "random_rotation",
    "read_checkpoint",
    "save_checkpoint",
    "save_weights",
    "torch_load_failure",
    "train",
]
