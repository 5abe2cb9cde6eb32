"""Stage train: fit the dense MLP and save it as a Keras model and as TensorFlow-free kernels.

The validation split is carved from the training set (seeded permutation) and is the only data
used to choose anything (the restored epoch); the test set is evaluated once, at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Quieter TensorFlow start-up; must be set before it is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from prunelab.datasets import Split, load_dataset
from prunelab.atomic import write_json
from prunelab.params import ParamsError, load_params
from prunelab.weights import save_kernels


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


def training_batches(tf, fit: Split, batch_size: int, seed: int, flip: bool):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder with the IDX files")
    parser.add_argument("--model", type=Path, required=True, help="output .keras file")
    parser.add_argument("--weights", type=Path, required=True, help="output .npz of kernels")
    parser.add_argument("--metrics", type=Path, required=True, help="output metrics JSON")
    parser.add_argument("--live-dir", type=Path, required=True, help="dvclive output folder")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
    except ParamsError as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 1
    cfg, data_cfg = params["train"], params["data"]

    import keras
    import tensorflow as tf
    from dvclive import Live
    from dvclive.keras import DVCLiveCallback

    from prunelab.model import BestValidationWeights, build_mlp, get_kernels

    keras.utils.set_random_seed(cfg["seed"])
    tf.config.experimental.enable_op_determinism()

    train_all, test = load_dataset(args.data, data_cfg["train_images"], data_cfg["test_images"])
    fit, val = split_validation(train_all, cfg["validation_split"], cfg["seed"])
    steps_per_epoch = -(-len(fit.labels) // cfg["batch_size"])
    if cfg["lr_schedule"] == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            cfg["learning_rate"], decay_steps=steps_per_epoch * cfg["epochs"]
        )
    else:
        learning_rate = cfg["learning_rate"]

    model = build_mlp(dropout=cfg["dropout"])
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=cfg["weight_decay"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    best = BestValidationWeights()
    print(
        f"train: {len(fit.labels)} training, {len(val.labels)} validation, "
        f"{len(test.labels)} test images; {cfg['epochs']} epochs",
        flush=True,
    )
    live = Live(str(args.live_dir), dvcyaml=False, save_dvc_exp=False)
    started = time.perf_counter()
    model.fit(
        training_batches(tf, fit, cfg["batch_size"], cfg["seed"], cfg["flip_augment"]),
        epochs=cfg["epochs"],
        validation_data=(val.images, val.labels),
        callbacks=[best, DVCLiveCallback(live=live)],
        shuffle=False,  # the dataset reshuffles itself, seeded
        verbose=2,
    )
    train_seconds = time.perf_counter() - started
    live.end()
    model.set_weights(best.weights)
    test_loss, test_accuracy = model.evaluate(test.images, test.labels, batch_size=1024, verbose=0)

    save_kernels(get_kernels(model), args.weights)
    args.model.parent.mkdir(parents=True, exist_ok=True)
    staging = args.model.with_name(f".{args.model.stem}.partial.keras")
    model.save(staging)
    os.replace(staging, args.model)
    metrics = {
        "test_accuracy": round(float(test_accuracy), 6),
        "test_loss": round(float(test_loss), 6),
        "best_val_accuracy": round(best.accuracy, 6),
        "best_epoch": best.epoch + 1,
        "epochs_run": cfg["epochs"],
        "train_seconds": round(train_seconds, 2),
    }
    write_json(metrics, args.metrics)
    print(f"train: {metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
