"""Run by test_distributed.py under torchrun (2 ranks) and, as the reference, in one process.

Usage: python _ddp_script.py OUT_DIR {parallel|merged}
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from wsad_core.context import BuildContext
from wsad_core.training import train

out, mode = Path(sys.argv[1]), sys.argv[2]
generator = torch.Generator().manual_seed(0)
inputs = torch.randn(16, 5, generator=generator)
targets = inputs @ torch.randn(5, 1, generator=generator) + 0.1
batches = [(inputs[i : i + 4], targets[i : i + 4]) for i in range(0, 16, 4)]
if mode == "merged":  # what two ranks see per step, as one batch: (b0, b1), (b2, b3)
    batches = [tuple(torch.cat(pair) for pair in zip(*batches[i : i + 2], strict=True)) for i in (0, 2)]

torch.manual_seed(0)
model = torch.nn.Linear(5, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)


def loss_fn(net: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return torch.nn.functional.mse_loss(net(x), y)


history = train(
    model=model,
    optimizer=optimizer,
    loss_fn=loss_fn,
    batches=lambda epoch, gen: batches,
    epochs=3,
    context=BuildContext(work_dir=out),
    checkpoint_dir=out / mode,
)
import os  # noqa: E402

if os.environ.get("RANK", "0") == "0":
    torch.save(
        {"weight": model.weight.detach(), "bias": model.bias.detach(), "loss": history.train_loss}, out / f"{mode}.pt"
    )
