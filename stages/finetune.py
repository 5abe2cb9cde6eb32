"""Stage finetune: retrain pruned networks with their masks fixed, for one (schedule, method, k).

For every seed of ``train.seeds``, starting from that seed's trained model and training on its
training split only (the validation split is carved exactly as in the train stage):

* ``oneshot``: prune by ``method`` at ``k`` (``prunelab.pruning.network_masks``), then train
  the live sub-network -- dead units can neither change the logits nor learn -- with the mask
  re-applied after every optimiser step, and write the weights back into the full shapes.
* ``gradual``: train the full network while the sparsity rises from 0 to ``k`` along the cubic
  schedule of Zhu & Gupta (``prunelab.finetune.gradual_plan``): before each scheduled step the
  mask is recomputed by ``method`` from the current weights; after the ramp the final mask is
  fixed.

Either way the saved zero pattern is exactly the mask that ``method`` gives at ``k`` (checked
before writing). Writes ``{out}/seed-<s>.npz`` per seed and ``{out}/log.json`` (seconds,
optimiser steps and validation accuracy per seed), all or nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from prunelab.atomic import json_bytes, replace_folder
from prunelab.datasets import Split, load_train_split
from prunelab.finetune import gradual_plan, submatrices, write_back
from prunelab.layout import dense_path, seed_path
from prunelab.params import (
    FINETUNE_SCHEDULES,
    PRUNE_METHODS,
    ParamsError,
    load_params,
    parse_choice,
    parse_percent,
)
from prunelab.pruning import network_masks
from prunelab.sparsity import accuracy_and_loss
from prunelab.training import StepHooks, Trainer, split_validation, steps_per_epoch
from prunelab.weights import WeightsError, load_kernels, save_kernels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--schedule", required=True, help=" or ".join(FINETUNE_SCHEDULES))
    parser.add_argument("--method", required=True, help=f"one of {', '.join(PRUNE_METHODS)}")
    parser.add_argument("--k", required=True, help="percentage to prune, an integer in [0, 100)")
    parser.add_argument("--data", type=Path, required=True, help="folder with the IDX files")
    parser.add_argument("--models", type=Path, required=True,
                        help="folder of seed-<s>/dense.npz (the train stage's output)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        schedule = parse_choice("--schedule", args.schedule, FINETUNE_SCHEDULES)
        method = parse_choice("--method", args.method, PRUNE_METHODS)
        k = parse_percent("--k", args.k)
        seeds = params["train"]["seeds"]
        dense = {seed: load_kernels(dense_path(args.models, seed)) for seed in seeds}
    except (ParamsError, WeightsError) as error:
        print(f"finetune: error: {error}", file=sys.stderr)
        return 1

    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    train_all = load_train_split(args.data, params["data"]["train_images"])
    results: dict[int, list[np.ndarray]] = {}
    log: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        fit, val = split_validation(train_all, params["train"]["validation_split"], seed)
        keras.utils.set_random_seed(seed)
        started = time.perf_counter()
        run = finetune_oneshot if schedule == "oneshot" else finetune_gradual
        kernels, masks, steps = run(dense[seed], method, k, seed, fit, params)
        seconds = time.perf_counter() - started
        check_zero_pattern(kernels, masks)
        val_accuracy, _ = accuracy_and_loss(kernels, val.images, val.labels)
        results[seed] = kernels
        log[f"seed_{seed}"] = {
            "seconds": round(seconds, 2),
            "steps": steps,
            "val_accuracy": round(val_accuracy, 6),
        }
        print(f"finetune: {schedule}-{method}-{k} seed {seed}: {log[f'seed_{seed}']}", flush=True)
    with replace_folder(args.out) as staging:
        for seed, kernels in results.items():
            save_kernels(kernels, seed_path(staging, seed))
        (staging / "log.json").write_bytes(json_bytes(log))
    return 0


def finetune_oneshot(
    dense: list[np.ndarray], method: str, k: int, seed: int, fit: Split, params: dict
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Prune once, then train the live sub-network under its fixed mask."""
    masks = network_masks(dense, method, k, seed)
    small, small_masks = submatrices(dense, masks)
    if any(kernel.shape[1] == 0 for kernel in small[:-1]):
        # Nothing reaches the logits: there is no network left to train.
        return write_back(small, dense, masks), masks, 0
    from prunelab.model import get_kernels

    model, _ = masked_model(small, small_masks, params["finetune"]["dropout"])
    steps = fit_model(model, fit, seed, params)
    return write_back(get_kernels(model), dense, masks), masks, steps


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
