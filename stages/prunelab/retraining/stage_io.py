"""What every retraining stage (finetune, gradual, scratch, lottery) does around its method: its
command line, TensorFlow's set-up with the seed's training and validation split, and writing the
model with its log. Plain helpers the stage scripts call in order; the method itself is a call
into :mod:`prunelab.retraining.finetune`, ``gradual`` or ``controls``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from prunelab.data.datasets import Split, load_train_split
from prunelab.model.forward import accuracy_and_loss
from prunelab.model.training import split_validation
from prunelab.model.weights import kernels_bytes
from prunelab.retraining.finetune import check_zero_pattern
from prunelab.wiring import entry
from prunelab.wiring.atomic import json_bytes, write_files
from prunelab.wiring.params import Params


def retraining_parser(docstring: str, *, method_help: str | None, **paths: str
                      ) -> argparse.ArgumentParser:
    """``--params``; ``--method`` (when ``method_help`` is given), ``--k`` and ``--seed``; then
    ``--data`` and one required path option per keyword of ``paths`` (``start="..."`` adds
    ``--start``), then ``--out`` and ``--log``. Described by the docstring's first paragraph."""
    parser = entry.stage_parser(docstring.split("\n\n")[0])
    if method_help is None:
        parser.add_argument("--k", required=True, help="percentage pruned, an integer in [0, 100)")
        parser.add_argument("--seed", required=True, help="the model's training seed")
    else:
        entry.add_instance_arguments(parser, method_help)
    entry.add_path_arguments(parser, data="folder with the IDX files", **paths,
                             out="output .npz", log="output JSON log")
    return parser


def training_split(data: Path, params: Params, seed: int) -> tuple[Split, Split]:
    """TensorFlow set up for deterministic ops, then the seed's fit and validation parts of the
    training images, carved exactly as in the train stage."""
    entry.prepare_tensorflow()
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    train_all = load_train_split(data, params.data.train_images)
    with entry.input_problem("lower train.validation_split (or raise data.train_images)"):
        return split_validation(train_all, params.train.validation_split, seed)


def retraining_log(kernels: list[np.ndarray], masks: list[np.ndarray], val: Split,
                   seconds: float, steps: int) -> dict[str, Any]:
    """The log of a fine-tuning run (one-shot or gradual) once its zero pattern is checked:
    seconds, optimiser steps and the validation accuracy of the kernels."""
    check_zero_pattern(kernels, masks)
    val_accuracy, _ = accuracy_and_loss(kernels, val.images, val.labels)
    return {"seconds": round(seconds, 2), "steps": steps, "val_accuracy": round(val_accuracy, 6)}


def write_model_and_log(out: Path, log_path: Path, kernels: list[np.ndarray], log: dict,
                        label: str) -> None:
    """Write the model (``.npz``) and its JSON log, both or none; print the log."""
    write_files({out: kernels_bytes(kernels), log_path: json_bytes(log)})
    print(f"{label}: {log}", flush=True)
