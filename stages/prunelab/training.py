"""Training pieces shared by the train and finetune stages: the split, the batches, the optimiser.

TensorFlow and Keras are passed in or imported inside the functions, so importing this module
stays cheap for the numpy-only stages and tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prunelab.datasets import Split
from prunelab.params import ParamsError


def split_validation(train: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Split off ``round(fraction * n)`` examples (at least one) by a seeded permutation."""
    order = np.random.default_rng(seed).permutation(len(train.labels))
    count = max(1, round(fraction * len(order)))
    if count >= len(order):
        raise ParamsError(
            f"train.validation_split {fraction} leaves no training examples out of {len(order)}"
        )
    fit, held = order[count:], order[:count]
    return (
        Split(train.images[fit], train.labels[fit]),
        Split(train.images[held], train.labels[held]),
    )


def training_batches(tf: Any, fit: Split, batch_size: int, seed: int, flip: bool) -> Any:
    """Seeded, reshuffled each epoch; optionally mirror a random half of the images left-right.

    Mirroring suits Fashion-MNIST (clothes look alike mirrored), not digits.
    """

    def mirror_half(images, labels):
        pictures = tf.reshape(images, (-1, 28, 28))
        chosen = tf.random.uniform((tf.shape(pictures)[0], 1, 1), seed=seed) < 0.5
        pictures = tf.where(chosen, tf.reverse(pictures, axis=[2]), pictures)
        return tf.reshape(pictures, (-1, 28 * 28)), labels

    batches = (
        tf.data.Dataset.from_tensor_slices((fit.images, fit.labels))
        .shuffle(len(fit.labels), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
    )
    return batches.map(mirror_half) if flip else batches


def steps_per_epoch(examples: int, batch_size: int) -> int:
    return -(-examples // batch_size)


def compile_for_training(
    model: Any, learning_rate: float, cosine_steps: int | None, weight_decay: float
) -> None:
    """AdamW on the logits' cross-entropy; the rate decays to 0 over ``cosine_steps`` if given."""
    import keras

    if cosine_steps:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=cosine_steps
        )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
