"""Stage finetune: retrain one pruned network with its mask fixed, for one (schedule, method, k, seed).

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from prunelab.atomic import json_bytes, write_files
from prunelab.datasets import Split, load_train_split
from prunelab.entry import StageError, prepare_tensorflow, run_stage
from prunelab.finetune import gradual_plan, submatrices, write_back
from prunelab.params import (
    FINETUNE_SCHEDULES,
    PRUNE_METHODS,
    RECONSTRUCT_METHODS,
    load_params,
    parse_choice,
    parse_percent,
    parse_seed,
)
from prunelab.pruning import network_masks
from prunelab.sparsity import accuracy_and_loss
from prunelab.training import StepHooks, Trainer, split_validation, steps_per_epoch
from prunelab.weights import kernels_bytes, load_kernels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--schedule", required=True, help=" or ".join(FINETUNE_SCHEDULES))
    parser.add_argument("--method", required=True, help="a method of prune or reconstruct")
    parser.add_argument("--k", required=True, help="percentage to prune, an integer in [0, 100)")
    parser.add_argument("--seed", required=True, help="the model's training seed")
    parser.add_argument("--data", type=Path, required=True, help="folder with the IDX files")
    parser.add_argument("--start", type=Path, required=True,
                        help="oneshot: the pruned .npz; gradual: the seed's dense.npz")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    parser.add_argument("--log", type=Path, required=True, help="output JSON log")
    args = parser.parse_args(argv)
    return run_stage("finetune", lambda: finetune(args))


def finetune(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    schedule = parse_choice("--schedule", args.schedule, FINETUNE_SCHEDULES)
    methods = PRUNE_METHODS + RECONSTRUCT_METHODS if schedule == "oneshot" else PRUNE_METHODS
    method = parse_choice("--method", args.method, methods)
    k = parse_percent("--k", args.k)
    seed = parse_seed("--seed", args.seed, params["train"]["seeds"])
    start = load_kernels(args.start)
    prepare_tensorflow()
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    train_all = load_train_split(args.data, params["data"]["train_images"])
    fit, val = split_validation(train_all, params["train"]["validation_split"], seed)
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


def zero_pattern(kernels: list[np.ndarray]) -> list[np.ndarray]:
    """The keep-masks of a pruned network: its non-zero weights; the logits kernel all kept."""
    *hidden, logits = kernels
    return [kernel != 0 for kernel in hidden] + [np.ones(logits.shape, dtype=bool)]


def finetune_oneshot(
    pruned: list[np.ndarray], seed: int, fit: Split, params: dict
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Train the live sub-network of ``pruned`` under its fixed zero pattern."""
    masks = zero_pattern(pruned)
    small, small_masks = submatrices(pruned, masks)
    if any(kernel.shape[1] == 0 for kernel in small[:-1]):
        # Nothing reaches the logits: there is no network left to train.
        return write_back(small, pruned, masks), masks, 0
    from prunelab.model import get_kernels

    model, _ = masked_model(small, small_masks, params["finetune"]["dropout"])
    steps = fit_model(model, fit, seed, params)
    return write_back(get_kernels(model), pruned, masks), masks, steps


def finetune_gradual(
    dense: list[np.ndarray], method: str, k: int, seed: int, fit: Split, params: dict
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Train the full network while its mask tightens along the cubic schedule."""
    from prunelab.model import get_kernels

    all_kept = [np.ones(kernel.shape, dtype=bool) for kernel in dense]
    model, mask_variables = masked_model(dense, all_kept, params["finetune"]["dropout"])
    gradual = params["gradual"]
    plan = gradual_plan(total_steps(fit, params), gradual["ramp"], gradual["updates"], k)
    final_masks: list[list[np.ndarray]] = []

    def tighten_to(percent: int) -> Callable[[], None]:
        """Recompute the mask by ``method`` at ``percent`` from the current weights; apply it."""

        def tighten() -> None:
            masks = network_masks(get_kernels(model), method, percent, seed)
            for variable, layer_kernel, mask in zip(mask_variables, dense_kernels(model), masks):
                variable.assign(mask.astype(np.float32))
                layer_kernel.assign(np.where(mask, layer_kernel.numpy(), 0))
            final_masks[:] = [masks]

        return tighten

    steps = fit_model(model, fit, seed, params, {step: tighten_to(percent) for step, percent in plan})
    return get_kernels(model), final_masks[0], steps


def dense_kernels(model: Any) -> list[Any]:
    from prunelab.model import dense_layers

    return [layer.kernel for layer in dense_layers(model)]


def masked_model(
    kernels: list[np.ndarray], masks: list[np.ndarray], dropout: float
) -> tuple[Any, list[Any]]:
    """The MLP with ``kernels``, each kernel multiplied by its mask after every optimiser step.

    Keras applies a variable's constraint right after the optimiser updates it, so masked
    weights are zero at every step, not only at the end. The masks are variables so that
    gradual pruning can tighten them during training.
    """
    import keras

    from prunelab.model import build_mlp, set_kernels

    class KeepMask(keras.constraints.Constraint):
        def __init__(self, mask: Any) -> None:
            self.mask = mask

        def __call__(self, weights: Any) -> Any:
            return weights * self.mask

    model = build_mlp(dropout=dropout, hidden_sizes=tuple(k.shape[1] for k in kernels[:-1]))
    set_kernels(model, [np.where(m, k, 0).astype(np.float32) for k, m in zip(kernels, masks)])
    mask_variables = []
    for variable, mask in zip(dense_kernels(model), masks):
        mask_variable = keras.Variable(mask.astype(np.float32), trainable=False)
        variable.constraint = KeepMask(mask_variable)
        mask_variables.append(mask_variable)
    return model, mask_variables


def fit_model(
    model: Any, fit: Split, seed: int, params: dict, hooks: StepHooks | None = None
) -> int:
    """Train for ``finetune.epochs`` with AdamW, the rate cosine-decayed to 0; return the steps."""
    cfg = params["finetune"]
    trainer = Trainer(
        model,
        cfg["learning_rate"],
        total_steps(fit, params),
        params["train"]["weight_decay"],
        cfg["batch_size"],
    )
    return trainer.train_epochs(
        fit, cfg["epochs"], seed, params["train"]["flip_augment"], hooks=hooks
    )


def total_steps(fit: Split, params: dict) -> int:
    """Optimiser steps of one fine-tuning run: ``finetune.epochs`` passes over ``fit``."""
    cfg = params["finetune"]
    return steps_per_epoch(len(fit.labels), cfg["batch_size"]) * cfg["epochs"]


def check_zero_pattern(kernels: list[np.ndarray], masks: list[np.ndarray]) -> None:
    """Every weight the mask removed must still be exactly zero."""
    for index, (kernel, mask) in enumerate(zip(kernels, masks)):
        if np.any(kernel[~mask] != 0):
            raise RuntimeError(f"kernel {index}: fine-tuning revived weights the mask removed")


if __name__ == "__main__":
    sys.exit(main())
