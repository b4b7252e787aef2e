"""A reduced RASALoRE learns the true lesion from noisy pseudo-masks better than the masks themselves."""

from __future__ import annotations

from wsad_rasalore.config import RasaloreOptions
from wsad_rasalore.segmenter import RasaloreSegmenter


def test_beats_its_noisy_pseudo_masks_on_the_true_blob(context_factory, make_toy, dice, tiny):
    # 32 anomalous 32² slices whose pseudo-masks are enlarged (×1.2-1.7), shifted (±10 %) discs with a
    # spurious blob in 70 % of them: Dice 0.53-0.58 against the truth. 75 epochs × 4 steps = 300 steps.
    # Adam (lr 3e-3) instead of the paper's SGD: at this size SGD at 0.01 needs thousands of steps
    # (measured: 1500 steps → test Dice 0.43 against pseudo-masks at 0.62).
    train, test = make_toy(32, seed=0), make_toy(16, seed=100, hidden=True)
    options = RasaloreOptions(**tiny, epochs=75, optimizer="adam", learning_rate=3e-3, augment=False)
    segmenter = RasaloreSegmenter(options, context_factory(seed=0))
    segmenter.fit(train.slices, train.noisy_masks())
    maps = segmenter.predict(test.slices).scores
    learned = dice(maps > 0.5, test.truth)
    floor = dice(test.noisy, test.truth)  # what the pseudo-masks themselves score on these slices
    # Measured (seeds 0/1/2): 0.69/0.65/0.76 against pseudo-masks at 0.53/0.58/0.55.
    assert learned > floor + 0.05
    assert learned > 0.6
    history = segmenter.histories["bridge"].train_loss
    assert history[-1] < 0.9 * history[0]
