"""``TrainingHistory.kept``: the epoch suffix every trained plugin's ``checkpoint_selection`` shows."""

from __future__ import annotations

from wsad_core.training import TrainingHistory


def test_kept_names_the_selected_epoch_of_the_finished_ones():
    history = TrainingHistory(epochs=30, train_loss=[1.0, 0.5, 0.7], selected_epoch=1)
    assert history.kept() == " (epoch 2 of 3)"
    assert history.kept("pseudo-epoch") == " (pseudo-epoch 2 of 3)"
    assert TrainingHistory(epochs=30).kept() == "", "nothing selected yet: nothing to say"
