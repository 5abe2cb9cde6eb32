"""prunelab.model.training: the shuffled epochs, the step segments and the training loop's hooks."""

import numpy as np
import pytest

from prunelab.data.datasets import Split
from prunelab.model.training import IMAGE_SIDE, segments, shuffled_epoch


def _pictures(count: int) -> Split:
    """Distinct, left-right asymmetric pictures whose first pixel is their label."""
    rng = np.random.default_rng(7)
    images = rng.random((count, IMAGE_SIDE * IMAGE_SIDE), dtype=np.float32)
    labels = np.arange(count, dtype=np.int64)
    images[:, 0] = labels
    return Split(images, labels)


def test_shuffled_epoch_without_flip_is_a_permutation_of_pairs():
    fit = _pictures(200)
    epoch = shuffled_epoch(fit, np.random.default_rng(0), flip=False)
    assert sorted(epoch.labels) == list(range(200))
    assert not np.array_equal(epoch.labels, fit.labels)
    np.testing.assert_array_equal(epoch.images, fit.images[epoch.labels])


def test_shuffled_epoch_mirrors_about_half_and_leaves_the_input_alone():
    fit = _pictures(1000)
    before = fit.images.copy()
    epoch = shuffled_epoch(fit, np.random.default_rng(0), flip=True)
    np.testing.assert_array_equal(fit.images, before)
    originals = fit.images[epoch.labels].reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    pictures = epoch.images.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    same = np.all(pictures == originals, axis=(1, 2))
    mirrored = np.all(pictures == originals[:, :, ::-1], axis=(1, 2))
    assert np.all(same ^ mirrored)  # each picture is exactly one of the two
    assert 400 < mirrored.sum() < 600


def test_shuffled_epoch_is_seeded():
    fit = _pictures(100)
    first = shuffled_epoch(fit, np.random.default_rng(3), flip=True)
    again = shuffled_epoch(fit, np.random.default_rng(3), flip=True)
    other = shuffled_epoch(fit, np.random.default_rng(4), flip=True)
    np.testing.assert_array_equal(first.images, again.images)
    assert not np.array_equal(first.labels, other.labels)


@pytest.mark.parametrize(
    ("first", "steps", "hooks", "expected"),
    [
        (0, 5, set(), [(0, 5)]),
        (0, 5, {0}, [(0, 5)]),
        (0, 5, {2, 4}, [(0, 2), (2, 4), (4, 5)]),
        (10, 5, {3, 10, 12, 15, 40}, [(0, 2), (2, 5)]),  # only hooks inside 10..14 cut
        (0, 1, {0}, [(0, 1)]),
    ],
)
def test_segments_start_a_run_at_every_hook(first, steps, hooks, expected):
    assert segments(first, steps, hooks) == expected


def test_trainer_runs_hooks_before_their_steps_and_counts_steps():
    import keras

    from prunelab.model.network import build_mlp
    from prunelab.model.training import Trainer

    keras.utils.set_random_seed(0)
    model = build_mlp((8, 8, 8, 8))
    trainer = Trainer(model, 1e-3, cosine_steps=15, weight_decay=0.0, batch_size=4)
    seen: dict[int, int] = {}
    epochs: list[tuple[int, float, float]] = []

    def hook_at(step: int):
        return lambda: seen.update({step: int(trainer.optimizer.iterations.numpy())})

    hooks = {step: hook_at(step) for step in (0, 3, 5, 7, 14, 99)}
    fit = _pictures(18)  # 5 steps per epoch, the last one of 2 examples
    fit = Split(fit.images, fit.labels % 10)
    steps = trainer.train_epochs(fit, 3, seed=0, flip=True, hooks=hooks,
                                 on_epoch_end=lambda *args: epochs.append(args))
    assert steps == 15 == int(trainer.optimizer.iterations.numpy())
    assert seen == {0: 0, 3: 3, 5: 5, 7: 7, 14: 14}  # 99 lies beyond the run
    assert [epoch for epoch, _, _ in epochs] == [0, 1, 2]
    assert all(loss > 0 and 0 <= accuracy <= 1 for _, loss, accuracy in epochs)
