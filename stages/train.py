"""Stage train: fit the dense MLP of `model.hidden` widths and save it as a Keras model and as
TensorFlow-free kernels.

The validation split is carved from the training set (seeded permutation) and is the only data
used to choose anything (the restored epoch); the test set is evaluated once, at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from prunelab.data.datasets import load_dataset
from prunelab.model.forward import accuracy_and_loss
from prunelab.model.training import (
    EpochScores,
    Trainer,
    split_validation,
    steps_per_epoch,
    train_keeping_best,
)
from prunelab.model.weights import kernels_bytes
from prunelab.schema.data import DATA
from prunelab.schema.model import MODEL
from prunelab.schema.train import TRAIN
from prunelab.wiring import entry
from prunelab.wiring.atomic import json_bytes, write_files
from prunelab.wiring.machine import cpu_model
from prunelab.wiring.params import load_params, parse_seed


def main(argv: list[str] | None = None) -> int:
    parser = entry.stage_parser(__doc__)
    parser.add_argument("--seed", required=True, help="one of train.seeds")
    entry.add_path_arguments(
        parser,
        data="folder with the IDX files",
        model="output .keras file",
        weights="output .npz of kernels",
        init="output .npz of the kernels training started from (lottery tickets start there)",
        metrics="output metrics JSON",
        live_dir="dvclive output folder",
    )
    args = parser.parse_args(argv)
    return entry.run_stage("train", lambda: train(args))


def train(args: argparse.Namespace) -> None:
    params = load_params(args.params, DATA, MODEL, TRAIN)
    seed = parse_seed("--seed", args.seed, args.params)
    settings = params.train
    entry.prepare_tensorflow()
    import keras
    import tensorflow as tf
    from dvclive import Live

    from prunelab.model.network import build_mlp, get_kernels, keras_bytes, set_kernels

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    train_all, test = load_dataset(args.data, params.data.train_images, params.data.test_images)
    with entry.input_problem("lower train.validation_split (or raise data.train_images)"):
        fit, val = split_validation(train_all, settings.validation_split, seed)
    steps = steps_per_epoch(len(fit.labels), settings.batch_size) * settings.epochs
    model = build_mlp(params.model.hidden, dropout=settings.dropout)
    initial = get_kernels(model)
    trainer = Trainer(
        model,
        settings.learning_rate,
        steps if settings.lr_schedule == "cosine" else None,
        settings.weight_decay,
        settings.batch_size,
    )
    print(
        f"train: {len(fit.labels)} training, {len(val.labels)} validation, "
        f"{len(test.labels)} test images; {settings.epochs} epochs, seed {seed}",
        flush=True,
    )
    live = Live(str(args.live_dir), dvcyaml=False, save_dvc_exp=False)
    started = time.perf_counter()
    best = train_keeping_best(
        trainer, model, fit, val, settings.epochs, seed, settings.flip_augment,
        report=epoch_report(live, settings.epochs, started),
    )
    train_seconds = time.perf_counter() - started
    live.end()
    test_accuracy, test_loss = accuracy_and_loss(best.kernels, test.images, test.labels)
    set_kernels(model, best.kernels)
    metrics = {
        "test_accuracy": round(test_accuracy, 6),
        "test_loss": round(test_loss, 6),
        "best_val_accuracy": round(best.val_accuracy, 6),
        "best_epoch": best.epoch + 1,
        "seed": seed,
        "epochs_run": settings.epochs,
        "train_seconds": round(train_seconds, 2),
        # What trained it: another CPU kind, or a GPU, gives other bits (README, Reproducibility).
        "devices": sorted({device.device_type for device in tf.config.list_logical_devices()}),
        "cpu": cpu_model(),
    }
    write_files({
        args.weights: kernels_bytes(best.kernels),
        args.init: kernels_bytes(initial),
        args.model: keras_bytes(model),
        args.metrics: json_bytes(metrics),
    })
    print(f"train: {metrics}")


def epoch_report(live: Any, epochs: int, started: float) -> Callable[[EpochScores], None]:
    """Log one epoch's scores to dvclive (one step per epoch) and print them."""

    def report(scores: EpochScores) -> None:
        for name, value in [("train/loss", scores.loss), ("train/accuracy", scores.accuracy),
                            ("eval/loss", scores.val_loss), ("eval/accuracy", scores.val_accuracy)]:
            live.log_metric(name, value)
        live.next_step()
        print(
            f"epoch {scores.epoch + 1}/{epochs}: loss {scores.loss:.4f}, "
            f"accuracy {scores.accuracy:.4f}, val_loss {scores.val_loss:.4f}, "
            f"val_accuracy {scores.val_accuracy:.4f}, {time.perf_counter() - started:.0f} s",
            flush=True,
        )

    return report


if __name__ == "__main__":
    sys.exit(main())
