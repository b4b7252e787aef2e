"""An interrupted MedSAM call resumes from its saved partial results with the same output."""

from __future__ import annotations

import numpy as np
import pytest
from wsad_medsam import engine as engine_module
from wsad_medsam.backends import lite_backend
from wsad_medsam.config import MedSAMBoxOptions
from wsad_medsam.engine import MedSAMEngine


def _engine(helpers, context):
    model = helpers.PainterModel(256)
    backend = lite_backend(model, device="cpu", amp=False, weights="stub", sha256="0" * 64, origin="t", bundled=True)
    return MedSAMEngine(MedSAMBoxOptions(memory_cache_items=0), context, prompt_kind="box", backend=backend)


def test_an_interrupted_refinement_resumes_from_its_partial_results(helpers, context, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (6, 1, 64, 64))
    masks = np.stack([helpers.disc((64, 64), (20 + 3 * i, 30), 8) for i in range(6)])
    slices = helpers.slices_of(images)
    reference, _ = _engine(helpers, context).segment(slices, masks)
    assert not list((context.work_dir / "medsam-partial").glob("*.npz")), "removed once complete"

    monkeypatch.setattr(engine_module.PartialResults, "__init__", _saving_always(engine_module.PartialResults.__init__))
    calls = {"n": 0}
    real_answer = MedSAMEngine._answer

    def dying_answer(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_answer(self, *args, **kwargs)

    monkeypatch.setattr(MedSAMEngine, "_answer", dying_answer)
    with pytest.raises(KeyboardInterrupt):
        _engine(helpers, context).segment(slices, masks)
    assert len(list((context.work_dir / "medsam-partial").glob("*.npz"))) == 1, "three slices kept"

    calls["n"] = -100  # no more interrupts; count what is recomputed
    resumed = _engine(helpers, context)
    again, _ = resumed.segment(slices, masks)
    assert calls["n"] == -100 + 3, "only the three unfinished slices are prompted again"
    np.testing.assert_array_equal(again, reference)


def _saving_always(init):
    def wrapped(self, work_dir, parts, interval=60.0):
        init(self, work_dir, parts, interval=0.0)

    return wrapped
