"""The fast path and activation checkpointing compute the reference function (issue 13).

``implementation="fast"`` (the default) reorders memory and fuses operations; it must give the
reference path's logits, activations, embeddings, loss and gradients to float32 rounding, draw
the same dropout masks, and leave batch-norm statistics alike. Checkpointing recomputes the same
operations and must agree as well.
"""

from __future__ import annotations

import copy

import pytest
import torch
from wsad_rasalore._data import Batch
from wsad_rasalore._training import StagePlan, batch_loss
from wsad_rasalore.config import RasaloreOptions
from wsad_rasalore.lore import lore_embedding
from wsad_rasalore.losses import gaussian_filter, gaussian_filter_matrix, gaussian_weight
from wsad_rasalore.torch_model import RasaloreNet

# cpu-small's layer structure at a quarter of its cost: the widths, k and d that exercise every block.
_GEOMETRY = {"input_size": 32, "num_points": 64, "embed_dim": 32, "width_divisor": 4}


def _batch(options: RasaloreOptions, size: int, seed: int = 0) -> Batch:
    geometry = options.geometry()
    s, out = geometry.input_size, geometry.output_size
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (size, 1, s, s), generator=generator).float()
    rows, cols = torch.meshgrid(torch.arange(out), torch.arange(out), indexing="ij")
    centre = torch.rand(size, 2, generator=generator) * out * 0.4 + out * 0.3
    radius = out * 0.15
    ddpt = ((rows - centre[:, :1, None]) ** 2 + (cols - centre[:, 1:, None]) ** 2 < radius**2).float()
    sam = ((rows - centre[:, :1, None] - 2) ** 2 + (cols - centre[:, 1:, None]) ** 2 < (radius * 0.8) ** 2).float()
    labels = (torch.rand(size, geometry.num_points, generator=generator) < 0.1).float()
    return Batch(images, ddpt, sam, labels)


def _pair(options: RasaloreOptions) -> tuple[RasaloreNet, RasaloreNet]:
    geometry = options.geometry()
    torch.manual_seed(0)
    reference = RasaloreNet(geometry, {"t2": lore_embedding(geometry.num_points, geometry.embed_dim, 3)})
    fast = copy.deepcopy(reference)
    return reference.configure(reference=True), fast.configure(reference=False)


def _step(net: RasaloreNet, options: RasaloreOptions, batch: Batch, seed: int) -> tuple[torch.Tensor, dict]:
    net.train().zero_grad(set_to_none=True)
    plan = StagePlan(("t2",), None, 0, 1, "test")
    torch.manual_seed(seed)  # the dropout stream
    loss = batch_loss(net, batch, plan, options, options.geometry(), torch.device("cpu"))
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5) -> bool:
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return float((a - b).abs().max()) <= rtol * scale


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_forward_equals_reference_in_eval_and_train_modes(seed):
    options = RasaloreOptions(**_GEOMETRY)
    reference, fast = _pair(options)
    images = _batch(options, 4, seed).images
    with torch.no_grad():
        for mode in (False, True):  # eval, then train (dropout on: same seed, same masks)
            reference.train(mode), fast.train(mode)
            torch.manual_seed(seed)
            expected = reference(images)
            torch.manual_seed(seed)
            got = fast(images)
            for name in ("logits", "activations", "embeddings"):
                assert _close(getattr(got, name), getattr(expected, name)), (mode, name)


def test_fast_loss_and_gradients_equal_reference():
    options = RasaloreOptions(**_GEOMETRY)
    reference, fast = _pair(options)
    batch = _batch(options, 4)
    loss_ref, grads_ref = _step(reference, options.model_copy(update={"implementation": "reference"}), batch, 5)
    loss_fast, grads_fast = _step(fast, options, batch, 5)
    assert _close(loss_fast, loss_ref)
    assert grads_ref.keys() == grads_fast.keys()
    assert len(grads_ref) > 20
    # Relative to the largest gradient: a bias before batch norm has a gradient that is zero up to
    # rounding (about 1e-9), so a per-tensor relative test would compare rounding noise.
    scale = max(float(g.abs().max()) for g in grads_ref.values())
    for name, grad in grads_ref.items():
        assert float((grads_fast[name] - grad).abs().max()) <= 1e-5 * scale, name
    # Batch-norm running statistics (the refiner) move identically.
    for (name, a), (_, b) in zip(reference.named_buffers(), fast.named_buffers(), strict=True):
        assert _close(a.float(), b.float()), name


@pytest.mark.parametrize("implementation", ["fast", "reference"])
def test_activation_checkpointing_changes_nothing_but_memory(implementation):
    options = RasaloreOptions(**_GEOMETRY, implementation=implementation)
    plain, _ = _pair(options)
    plain.configure(reference=implementation == "reference")
    checkpointed = copy.deepcopy(plain).configure(checkpointing=True)
    batch = _batch(options, 4, 2)
    rng = torch.get_rng_state()
    loss_plain, grads_plain = _step(plain, options, batch, 9)
    after_plain = torch.get_rng_state()
    torch.set_rng_state(rng)
    loss_ckpt, grads_ckpt = _step(checkpointed, options, batch, 9)
    assert torch.equal(torch.get_rng_state(), after_plain)  # the recomputation leaves the dropout stream alone
    assert _close(loss_ckpt, loss_plain, 1e-6)
    scale = max(float(g.abs().max()) for g in grads_plain.values())
    for name, grad in grads_plain.items():
        assert float((grads_ckpt[name] - grad).abs().max()) <= 1e-6 * scale, name
    for (name, a), (_, b) in zip(plain.named_buffers(), checkpointed.named_buffers(), strict=True):
        assert torch.equal(a, b), name  # batch-norm statistics updated once, not twice


@pytest.mark.parametrize("sigma", [1.5, 5.0, 10.0])
@pytest.mark.parametrize("shape", [(3, 64, 64), (2, 40, 56)])
def test_gaussian_filter_as_matrix_products_equals_the_convolution(sigma, shape):
    masks = (torch.rand(shape, generator=torch.Generator().manual_seed(1)) > 0.7).float()
    assert _close(gaussian_filter_matrix(masks, sigma), gaussian_filter(masks, sigma), 1e-5)
    weights = gaussian_weight(masks, sigma), gaussian_weight(masks, sigma, reference=True)
    assert _close(*weights, 1e-5)
    empty = torch.zeros(1, *shape[1:])
    assert not gaussian_weight(empty, sigma).any()


def test_options_describe_both_paths():
    assert RasaloreOptions().implementation == "fast"
    assert RasaloreOptions().activation_checkpointing is False
    with pytest.raises(ValueError, match="implementation"):
        RasaloreOptions(implementation="other")
