"""The body the controls' stages share (``scratch``, ``lottery``): read the training split,
build the start, train it with the dense network's whole recipe
(:func:`prunelab.retraining.controls.train_masked`), check the zero pattern, write the model and
its log."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from prunelab.data.datasets import load_train_split
from prunelab.model.training import EpochScores, split_validation
from prunelab.model.weights import kernels_bytes
from prunelab.retraining.controls import train_masked
from prunelab.retraining.finetune import check_zero_pattern
from prunelab.wiring import entry
from prunelab.wiring.atomic import json_bytes, write_files
from prunelab.wiring.params import Params, load_params, parse_percent, parse_seed

# (params, k, seed) -> (start kernels, their masks, trained kernels -> the kernels to store),
# called once TensorFlow is ready.
ControlStart = Callable[
    [Params, int, int],
    tuple[list[np.ndarray], list[np.ndarray], Callable[[list[np.ndarray]], list[np.ndarray]]],
]


def control_stage(args: argparse.Namespace, schedule: str, start: ControlStart) -> None:
    """Train the control ``schedule`` for ``--k`` and ``--seed`` from ``start`` with the train
    stage's recipe (:func:`prunelab.retraining.controls.train_masked`); write ``--out`` and
    ``--log`` (seconds, optimiser steps, epochs, restored epoch, validation accuracy), both or
    none."""
    params = load_params(args.params)
    k = parse_percent("--k", args.k)
    seed = parse_seed("--seed", args.seed, params.train.seeds)
    entry.prepare_tensorflow()
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    train_all = load_train_split(args.data, params.data.train_images)
    with entry.input_problem("lower train.validation_split (or raise data.train_images)"):
        fit, val = split_validation(train_all, params.train.validation_split, seed)
    kernels, masks, finish = start(params, k, seed)
    keras.utils.set_random_seed(seed)  # dropout and the training loop, as in the train stage

    def report(scores: EpochScores) -> None:
        print(f"{schedule}-{k} seed {seed}: epoch {scores.epoch + 1}: loss {scores.loss:.4f}, "
              f"val_accuracy {scores.val_accuracy:.4f}", flush=True)

    started = time.perf_counter()
    trained, best, steps = train_masked(kernels, masks, seed, fit, val, params, report)
    seconds = time.perf_counter() - started
    check_zero_pattern(trained, masks)
    log = {"seconds": round(seconds, 2), "steps": steps, "epochs": params.train.epochs,
           "best_epoch": best.epoch + 1, "val_accuracy": round(best.val_accuracy, 6)}
    write_files({args.out: kernels_bytes(finish(trained)), args.log: json_bytes(log)})
    print(f"{schedule}: k {k} seed {seed}: {log}", flush=True)
