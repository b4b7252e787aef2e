"""Fixtures for the training-utility tests: a tiny regression problem."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from wsad_core.training import minibatch_indices

N_SAMPLES, BATCH = 64, 8
_GEN = torch.Generator().manual_seed(1234)
INPUTS = torch.randn(N_SAMPLES, 4, generator=_GEN)
TARGETS = INPUTS @ torch.tensor([[1.5], [-2.0], [0.5], [1.0]]) + 0.3


def make_model(seed: int = 0, *, lr: float = 0.02) -> tuple[nn.Module, torch.optim.Optimizer, object]:
    """A small MLP with dropout (so the global RNG matters), SGD with momentum and a StepLR."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, scheduler


def batches(epoch: int, generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled minibatches with generator-driven input noise (an 'augmentation')."""
    del epoch
    out = []
    for index in minibatch_indices(N_SAMPLES, BATCH, generator):
        noise = 0.01 * torch.randn(len(index), 4, generator=generator)
        out.append((INPUTS[index] + noise, TARGETS[index]))
    return out


def make_loss(model: nn.Module):
    def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        inputs, targets = batch
        return torch.nn.functional.mse_loss(model(inputs), targets)

    return loss_fn


def state_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def toy() -> types.SimpleNamespace:
    """The toy problem's helpers, as a namespace."""
    return types.SimpleNamespace(
        N_SAMPLES=N_SAMPLES,
        BATCH=BATCH,
        make_model=make_model,
        batches=batches,
        make_loss=make_loss,
        state_equal=state_equal,
    )
