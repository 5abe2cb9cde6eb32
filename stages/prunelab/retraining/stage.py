"""The body both retraining stages share (``finetune``: one-shot, ``gradual``): read the start
model and the training split, retrain, check the zero pattern, write the model and its log.
The controls' stages have theirs in :mod:`prunelab.retraining.control_stage`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from prunelab.data.datasets import Split, load_train_split
from prunelab.model.forward import accuracy_and_loss
from prunelab.model.training import split_validation
from prunelab.model.weights import kernels_bytes, load_kernels
from prunelab.retraining.finetune import check_zero_pattern
from prunelab.wiring import entry
from prunelab.wiring.atomic import json_bytes, write_files
from prunelab.wiring.params import Params, load_params

# (start kernels, method, k, seed, fit split, params) -> (kernels, masks, optimiser steps)
Retrain = Callable[
    [list[np.ndarray], str, int, int, Split, Params],
    tuple[list[np.ndarray], list[np.ndarray], int],
]


def retraining_parser(docstring: str, method_help: str, start_help: str) -> argparse.ArgumentParser:
    """The command line of a retraining stage: params, instance, data, start, out and log."""
    parser = entry.stage_parser(docstring.split("\n\n")[0])
    entry.add_instance_arguments(parser, method_help)
    entry.add_path_arguments(parser, data="folder with the IDX files", start=start_help,
                             out="output .npz", log="output JSON log")
    return parser


def retrain_stage(
    args: argparse.Namespace, schedule: str, methods: tuple[str, ...], retrain: Retrain
) -> None:
    """Retrain ``--start`` for the instance on the command line; write ``--out`` and ``--log``
    (seconds, optimiser steps, validation accuracy), both or none."""
    params = load_params(args.params)
    method, k, seed = entry.parse_instance(args, methods, params)
    start = load_kernels(args.start)
    entry.prepare_tensorflow()
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    train_all = load_train_split(args.data, params.data.train_images)
    with entry.input_problem("lower train.validation_split (or raise data.train_images)"):
        fit, val = split_validation(train_all, params.train.validation_split, seed)
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    kernels, masks, steps = retrain(start, method, k, seed, fit, params)
    seconds = time.perf_counter() - started
    check_zero_pattern(kernels, masks)
    val_accuracy, _ = accuracy_and_loss(kernels, val.images, val.labels)
    log = {"seconds": round(seconds, 2), "steps": steps, "val_accuracy": round(val_accuracy, 6)}
    write_files({args.out: kernels_bytes(kernels), args.log: json_bytes(log)})
    print(f"{schedule}: {method}-{k} seed {seed}: {log}", flush=True)
