from __future__ import annotations

import contextlib
import math

import pytest
import torch

from wsad_core.context import BuildContext
from wsad_core.errors import ConfigError, ContractError, WsadError
from wsad_core.training import NonFiniteLossError, read_checkpoint, train


def _context(tmp_path, seed=7, **kwargs):
    return BuildContext(work_dir=tmp_path, seed=seed, **kwargs)


def _train(toy, tmp_path, model, optimizer, scheduler=None, *, epochs=6, loss_fn=None, **kwargs):
    return train(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        loss_fn=loss_fn or toy.make_loss(model),
        batches=toy.batches,
        epochs=epochs,
        context=kwargs.pop("context", _context(tmp_path)),
        checkpoint_dir=kwargs.pop("checkpoint_dir", tmp_path / "ckpt"),
        description="toy",
        **kwargs,
    )


def test_loss_decreases_on_toy_regression(toy, tmp_path):
    model, optimizer, scheduler = toy.make_model()
    history = _train(toy, tmp_path, model, optimizer, scheduler, epochs=6)
    assert history.completed == 6
    # Measured (seeds 3, 4, 7): 4.5-4.7 -> 0.16-0.40, i.e. at most 0.09 of the first epoch.
    assert history.train_loss[-1] < 0.25 * history.train_loss[0]
    assert history.selected_epoch == 5
    # StepLR(step 2, gamma 0.5) as recorded per epoch.
    assert history.learning_rate == pytest.approx([0.02, 0.02, 0.01, 0.01, 0.005, 0.005])


def test_resume_after_interruption_is_bit_identical(toy, tmp_path):
    reference, optimizer, scheduler = toy.make_model()
    expected = _train(toy, tmp_path / "a", reference, optimizer, scheduler, epochs=6)

    model, optimizer, scheduler = toy.make_model()
    calls = {"n": 0}
    plain_loss = toy.make_loss(model)
    steps_per_epoch = math.ceil(toy.N_SAMPLES / toy.BATCH)

    def failing_loss(batch):
        calls["n"] += 1
        if calls["n"] == 3 * steps_per_epoch + 2:  # epoch 4 (index 3), second step
            raise KeyboardInterrupt
        return plain_loss(batch)

    with pytest.raises(KeyboardInterrupt):
        _train(toy, tmp_path / "b", model, optimizer, scheduler, epochs=6, loss_fn=failing_loss)
    assert read_checkpoint(tmp_path / "b" / "ckpt" / "last.pt")["epoch"] == 2

    # A new process: fresh objects and an unrelated global RNG state.
    model, optimizer, scheduler = toy.make_model()
    torch.manual_seed(999)
    history = _train(toy, tmp_path / "b", model, optimizer, scheduler, epochs=6)
    assert toy.state_equal(model, reference)
    assert history.train_loss == expected.train_loss
    assert history.resumed_at == [3]
    assert torch.equal(torch.get_rng_state(), _rng_after(tmp_path / "a"))


def _rng_after(run_dir):
    return read_checkpoint(run_dir / "ckpt" / "last.pt")["rng"]["torch"]


def test_finished_run_returns_immediately_with_weights(toy, tmp_path):
    model, optimizer, scheduler = toy.make_model()
    first = _train(toy, tmp_path, model, optimizer, scheduler, epochs=3)

    fresh, optimizer, scheduler = toy.make_model(seed=5)
    calls = {"n": 0}

    def counting_loss(batch):
        calls["n"] += 1
        return toy.make_loss(fresh)(batch)

    again = _train(toy, tmp_path, fresh, optimizer, scheduler, epochs=3, loss_fn=counting_loss)
    assert calls["n"] == 0
    assert again.train_loss == first.train_loss
    assert again.resumed_at == []
    assert toy.state_equal(fresh, model)


def test_extending_a_finished_run_continues_and_fewer_epochs_fail(toy, tmp_path):
    model, optimizer, _ = toy.make_model()
    _train(toy, tmp_path, model, optimizer, epochs=2)
    history = _train(toy, tmp_path, model, optimizer, epochs=4)
    assert history.completed == 4
    assert history.resumed_at == [2]
    with pytest.raises(ConfigError, match="already holds 4 epochs"):
        _train(toy, tmp_path, model, optimizer, epochs=3)


def test_best_validation_selects_lowest_validation_loss(toy, tmp_path):
    model, optimizer, _ = toy.make_model()
    scripted = iter([3.0, 1.0, 2.0, float("nan"), 1.5])
    snapshots = []

    def validate():
        assert not model.training
        assert not torch.is_grad_enabled()
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scripted)

    history = _train(toy, tmp_path, model, optimizer, epochs=5, validate=validate, selection="best-validation")
    assert history.best_epoch == 1
    assert history.selected_epoch == 1
    assert history.best_val_loss == 1.0
    assert all(torch.equal(model.state_dict()[k], snapshots[1][k]) for k in snapshots[1])
    assert not all(torch.equal(model.state_dict()[k], snapshots[-1][k]) for k in snapshots[-1])
    assert (tmp_path / "ckpt" / "best.pt").is_file()


def test_last_selection_keeps_final_weights_even_with_validation(toy, tmp_path):
    model, optimizer, _ = toy.make_model()
    values = iter([1.0, 2.0, 3.0])
    history = _train(toy, tmp_path, model, optimizer, epochs=3, validate=lambda: next(values))
    assert history.val_loss == [1.0, 2.0, 3.0]
    assert history.best_epoch == 0
    assert history.selected_epoch == 2


def test_best_validation_without_validate_is_a_config_error(toy, tmp_path):
    model, optimizer, _ = toy.make_model()
    with pytest.raises(ConfigError, match="best-validation"):
        _train(toy, tmp_path, model, optimizer, epochs=2, selection="best-validation")


def test_non_finite_loss_names_epoch_and_step(toy, tmp_path):
    model, optimizer, _ = toy.make_model()
    calls = {"n": 0}
    steps_per_epoch = math.ceil(toy.N_SAMPLES / toy.BATCH)

    def exploding(batch):
        calls["n"] += 1
        loss = toy.make_loss(model)(batch)
        return loss * float("nan") if calls["n"] == steps_per_epoch + 3 else loss

    with pytest.raises(NonFiniteLossError, match=r"epoch 2/4, step 3") as caught:
        _train(toy, tmp_path, model, optimizer, epochs=4, loss_fn=exploding)
    assert isinstance(caught.value, WsadError)
    assert "learning rate" in caught.value.hint


def test_non_scalar_loss_and_empty_epoch_are_contract_errors(toy, tmp_path):
    model, optimizer, _ = toy.make_model()
    with pytest.raises(ContractError, match="scalar"):
        _train(toy, tmp_path / "a", model, optimizer, epochs=1, loss_fn=lambda batch: model(batch[0]))
    with pytest.raises(ContractError, match="no batch"):
        train(
            model=model,
            optimizer=optimizer,
            loss_fn=toy.make_loss(model),
            batches=lambda epoch, generator: [],
            epochs=1,
            context=_context(tmp_path),
            checkpoint_dir=tmp_path / "b",
        )


def test_grad_clip_bounds_the_update(toy, tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)

    def one_batch(epoch, generator):
        return [(100 * torch.ones(8, 4), torch.zeros(8, 1))]

    train(
        model=model,
        optimizer=optimizer,
        loss_fn=toy.make_loss(model),
        batches=one_batch,
        epochs=1,
        context=_context(tmp_path),
        checkpoint_dir=tmp_path / "ckpt",
        grad_clip=0.5,
    )
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float((after - before).norm()) == pytest.approx(0.5, rel=1e-4)


class _Recorder:
    def __init__(self):
        self.tasks = []

    @contextlib.contextmanager
    def task(self, description, total):
        record = {"description": description, "total": total, "steps": 0, "fields": None}
        self.tasks.append(record)

        class _Task:
            def advance(self, steps=1, **fields):
                record["steps"] += steps
                record["fields"] = fields

        yield _Task()


def test_progress_bar_per_epoch_with_loss(toy, tmp_path):
    model, optimizer, _ = toy.make_model()
    recorder = _Recorder()
    history = _train(toy, tmp_path, model, optimizer, epochs=2, context=_context(tmp_path, progress=recorder))
    steps = math.ceil(toy.N_SAMPLES / toy.BATCH)
    assert [t["description"] for t in recorder.tasks] == ["toy 1/2", "toy 2/2"]
    assert all(t["total"] == steps and t["steps"] == steps for t in recorder.tasks)
    assert recorder.tasks[-1]["fields"]["loss"] == pytest.approx(history.train_loss[-1], abs=1e-5)


def test_amp_flag_is_a_no_op_on_cpu(toy, tmp_path):
    model, optimizer, _ = toy.make_model()
    dtypes = []

    def loss_fn(batch):
        out = model(batch[0])
        dtypes.append(out.dtype)
        return torch.nn.functional.mse_loss(out, batch[1])

    _train(toy, tmp_path, model, optimizer, epochs=1, loss_fn=loss_fn, context=_context(tmp_path, amp=True))
    assert set(dtypes) == {torch.float32}


def test_seeded_runs_are_identical_and_seed_changes_the_batches(toy, tmp_path):
    runs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        model, optimizer, _ = toy.make_model()
        _train(toy, tmp_path / name, model, optimizer, epochs=2, context=_context(tmp_path, seed=seed))
        runs.append(model)
    assert toy.state_equal(runs[0], runs[1])
    assert not toy.state_equal(runs[0], runs[2])


def test_monitor_values_are_recorded_per_epoch_in_eval_mode_and_never_select(toy, tmp_path):
    model, optimizer, scheduler = toy.make_model()
    seen = []

    def monitor(epoch):
        seen.append((epoch, model.training, torch.is_grad_enabled()))
        return {"dice": 1.0 - epoch / 10}

    history = _train(toy, tmp_path, model, optimizer, scheduler, epochs=3, monitor=monitor)
    assert seen == [(0, False, False), (1, False, False), (2, False, False)]
    assert history.monitor == [{"dice": 1.0}, {"dice": 0.9}, {"dice": 0.8}]
    assert history.selected_epoch == 2  # 'last': a falling monitor value chooses nothing
    assert model.training
    stored = read_checkpoint(tmp_path / "ckpt" / "last.pt")["history"]
    assert stored["monitor"] == history.monitor
