"""Stage finetune: retrain one pruned network, for one (schedule, method, k, seed).

Starting from the seed's model and training on its training split only (the validation split is
carved exactly as in the train stage):

* ``oneshot``: ``--start`` is the one-shot pruned model (prune or reconstruct stage). Its zero
  pattern is the mask (the logits kernel is never masked); the live sub-network -- dead units can
  neither change the logits nor learn -- is trained with the mask re-applied after every
  optimiser step, and written back into the full shapes. ``k = 0`` is the control: the dense
  network trained for the same steps.
* ``gradual``: ``--start`` is the dense model. The full network trains while the sparsity rises
  from 0 to ``k`` along the cubic schedule of Zhu & Gupta (``prunelab.finetune.gradual_plan``):
  before each scheduled step the mask is recomputed by ``method`` from the current weights;
  after the ramp the final mask is fixed.

Either way the weights the mask removed are still exactly zero (checked before writing). Writes
``--out`` (``.npz``) and ``--log`` (seconds, optimiser steps, validation accuracy), both or none.
"""

from __future__ import annotations

import argparse
import sys
import time

from prunelab import entry
from prunelab.atomic import json_bytes, write_files
from prunelab.datasets import load_train_split
from prunelab.finetune import check_zero_pattern, finetune_gradual, finetune_oneshot
from prunelab.params import FINETUNE_SCHEDULES, load_params, parse_choice
from prunelab.pruning import PRUNE_METHODS, RECONSTRUCT_METHODS
from prunelab.sparsity import accuracy_and_loss
from prunelab.training import split_validation
from prunelab.weights import kernels_bytes, load_kernels


def main(argv: list[str] | None = None) -> int:
    parser = entry.stage_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--schedule", required=True, help=" or ".join(FINETUNE_SCHEDULES))
    entry.add_instance_arguments(parser, "a method of prune or reconstruct")
    start_help = "oneshot: the pruned .npz; gradual: the seed's dense.npz"
    entry.add_path_arguments(parser, data="folder with the IDX files", start=start_help,
                             out="output .npz", log="output JSON log")
    args = parser.parse_args(argv)
    return entry.run_stage("finetune", lambda: finetune(args))


def finetune(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    schedule = parse_choice("--schedule", args.schedule, FINETUNE_SCHEDULES)
    methods = PRUNE_METHODS + RECONSTRUCT_METHODS if schedule == "oneshot" else PRUNE_METHODS
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
    if schedule == "oneshot":
        kernels, masks, steps = finetune_oneshot(start, seed, fit, params)
    else:
        kernels, masks, steps = finetune_gradual(start, method, k, seed, fit, params)
    seconds = time.perf_counter() - started
    check_zero_pattern(kernels, masks)
    val_accuracy, _ = accuracy_and_loss(kernels, val.images, val.labels)
    log = {"seconds": round(seconds, 2), "steps": steps, "val_accuracy": round(val_accuracy, 6)}
    write_files({args.out: kernels_bytes(kernels), args.log: json_bytes(log)})
    print(f"finetune: {schedule}-{method}-{k} seed {seed}: {log}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
