"""Training pieces shared by the train and finetune stages: the split, the epochs, the steps, and
the dense run that keeps its best-validation epoch.

Each epoch is shuffled (and mirrored) in numpy and then trained by one TensorFlow function that
loops over its batches. Keras' ``fit`` reads batches from ``tf.data`` threads instead, and on
this 2-core machine their contention made about half the epochs take twice as long (measured:
5.4 s or 10.5 s per epoch at random); the in-memory loop runs every epoch at the fast speed.

TensorFlow and Keras are imported inside the functions, so importing this module stays cheap
for the numpy-only stages and tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from prunelab.data.datasets import Split
from prunelab.model.forward import accuracy_and_loss

IMAGE_SIDE = 28  # both datasets hold 28 x 28 pictures, flattened row by row

# A hook runs before the optimiser step it is keyed by (counted from 0 over the whole run).
StepHooks = dict[int, Callable[[], None]]
# Called after each epoch with (epoch from 0, mean training loss, training accuracy).
EpochEnd = Callable[[int, float, float], None]


def split_validation(train: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Split off ``round(fraction * n)`` examples (at least one) by a seeded permutation.

    Raises:
        ValueError: if the validation part would take every example.
    """
    order = np.random.default_rng(seed).permutation(len(train.labels))
    count = max(1, round(fraction * len(order)))
    if count >= len(order):
        raise ValueError(
            f"a validation fraction of {fraction} leaves no training examples out of {len(order)}"
        )
    fit, held = order[count:], order[:count]
    return (
        Split(train.images[fit], train.labels[fit]),
        Split(train.images[held], train.labels[held]),
    )


def shuffled_epoch(fit: Split, rng: np.random.Generator, flip: bool) -> Split:
    """All of ``fit`` in a fresh random order; with ``flip``, each image is mirrored left-right
    with probability 1/2 (one draw per image, after the permutation).

    Mirroring suits Fashion-MNIST (clothes look alike mirrored), not digits. ``fit`` is not
    modified.
    """
    order = rng.permutation(len(fit.labels))
    images = fit.images[order]
    if flip:
        mirrored = rng.random(len(order)) < 0.5
        pictures = images.reshape(len(order), IMAGE_SIDE, IMAGE_SIDE)
        pictures[mirrored] = pictures[mirrored, :, ::-1]
    return Split(images, fit.labels[order])


def steps_per_epoch(examples: int, batch_size: int) -> int:
    return -(-examples // batch_size)


def segments(first_step: int, steps: int, hook_steps: set[int]) -> list[tuple[int, int]]:
    """Cut the steps ``first_step .. first_step + steps - 1`` into runs ``(start, stop)``
    (offsets within the epoch) so that every hook step starts a run."""
    cuts = sorted({0, steps} | {step - first_step for step in hook_steps
                                if first_step < step < first_step + steps})
    return list(itertools.pairwise(cuts))


class Trainer:
    """AdamW on the logits' cross-entropy for ``model``, one optimiser step per batch.

    The rate decays to 0 along a cosine over ``cosine_steps`` if given. Keras applies a
    variable's constraint right after each optimiser step, so masked training works unchanged.
    """

    def __init__(
        self,
        model: Any,
        learning_rate: float,
        cosine_steps: int | None,
        weight_decay: float,
        batch_size: int,
    ) -> None:
        import keras
        import tensorflow as tf

        if cosine_steps:
            learning_rate = keras.optimizers.schedules.CosineDecay(
                learning_rate, decay_steps=cosine_steps
            )
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
        variables = model.trainable_variables
        optimizer.build(variables)
        cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        @tf.function(reduce_retracing=True)
        def run(images: Any, labels: Any) -> tuple[Any, Any]:
            count = tf.shape(labels)[0]
            loss_sum = tf.constant(0.0)
            correct = tf.constant(0, tf.int64)
            for start in tf.range(0, count, batch_size):
                x, y = images[start : start + batch_size], labels[start : start + batch_size]
                with tf.GradientTape() as tape:
                    logits = model(x, training=True)
                    loss = cross_entropy(y, logits)
                optimizer.apply(tape.gradient(loss, variables), variables)
                loss_sum += loss * tf.cast(tf.shape(y)[0], tf.float32)
                correct += tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == y, tf.int64))
            return loss_sum, correct

        self.batch_size = batch_size
        self.optimizer = optimizer
        self._run = run

    def run(self, batch: Split) -> tuple[float, int]:
        """One optimiser step per ``batch_size`` examples of ``batch``, in order; returns the
        summed training loss and the count of correct predictions (with dropout active)."""
        loss_sum, correct = self._run(batch.images, batch.labels)
        return float(loss_sum), int(correct)

    def train_epochs(
        self,
        fit: Split,
        epochs: int,
        seed: int,
        flip: bool,
        hooks: StepHooks | None = None,
        on_epoch_end: EpochEnd | None = None,
    ) -> int:
        """Train ``epochs`` shuffled passes over ``fit``; return the optimiser steps taken."""
        hooks = hooks or {}
        # A stream of its own, apart from the validation split's permutation of the same seed.
        rng = np.random.default_rng([seed, 1])
        steps = steps_per_epoch(len(fit.labels), self.batch_size)
        for epoch in range(epochs):
            shuffled = shuffled_epoch(fit, rng, flip)
            loss_sum, correct = 0.0, 0
            for start, stop in segments(epoch * steps, steps, set(hooks)):
                if epoch * steps + start in hooks:
                    hooks[epoch * steps + start]()
                rows = slice(start * self.batch_size, stop * self.batch_size)
                segment_loss, segment_correct = self.run(
                    Split(shuffled.images[rows], shuffled.labels[rows])
                )
                loss_sum, correct = loss_sum + segment_loss, correct + segment_correct
            if on_epoch_end:
                count = len(fit.labels)
                on_epoch_end(epoch, loss_sum / count, correct / count)
        return steps * epochs


@dataclass(frozen=True)
class EpochScores:
    """One epoch's numbers: training loss and accuracy (dropout active), then validation's."""

    epoch: int  # from 0
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float


@dataclass(frozen=True)
class BestEpoch:
    """The epoch a training run restores: its index (from 0), validation accuracy and kernels."""

    epoch: int
    val_accuracy: float
    kernels: list[np.ndarray]


def train_keeping_best(
    trainer: Trainer,
    model: Any,
    fit: Split,
    val: Split,
    epochs: int,
    seed: int,
    flip: bool,
    report: Callable[[EpochScores], None],
) -> BestEpoch:
    """Train ``model`` for ``epochs`` epochs; return its earliest epoch of best validation accuracy.

    After every epoch the kernels are scored on ``val`` (TensorFlow-free, see
    :func:`prunelab.model.forward.accuracy_and_loss`) and ``report`` is called with the scores.
    """
    from prunelab.model.network import get_kernels

    best: BestEpoch | None = None

    def end_of_epoch(epoch: int, loss: float, accuracy: float) -> None:
        nonlocal best
        kernels = get_kernels(model)
        val_accuracy, val_loss = accuracy_and_loss(kernels, val.images, val.labels)
        report(EpochScores(epoch, loss, accuracy, val_loss, val_accuracy))
        # Strictly better only: a later epoch that merely ties is not restored.
        if best is None or val_accuracy > best.val_accuracy:
            best = BestEpoch(epoch, val_accuracy, kernels)

    trainer.train_epochs(fit, epochs, seed, flip, on_epoch_end=end_of_epoch)
    assert best is not None, "epochs >= 1 is checked by the params schema"
    return best
