"""Fine-tuning a pruned network with its mask fixed (one-shot), and the optimiser schedule that
gradual pruning (:mod:`prunelab.retraining.gradual`) shares.

The numpy side -- the live sub-network and the zero pattern -- is plainly testable without Keras;
:func:`finetune_oneshot` trains. It imports nothing of the pruning core: the mask is the start
model's own zero pattern, so editing the pruning code cannot change a fine-tuning result whose start
file did not change. No I/O here, and Keras is imported only inside the training functions, so
importing this module
stays cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prunelab.data.datasets import Split
from prunelab.model.structure import live_blocks
from prunelab.model.training import StepHooks, Trainer, steps_per_epoch
from prunelab.wiring.params import Params


def submatrices(
    kernels: list[np.ndarray], masks: list[np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The pruned network restricted to its live units, with the matching masks.

    Units that pruning left dead (see ``prunelab.model.structure.alive_units``) can neither change
    the logits nor receive a gradient, so training the smaller network and writing it back with
    :func:`write_back` updates every weight that matters, at a fraction of the cost (unit
    pruning at 90 % leaves a 784-100-100-50-20-10 network).
    """
    pruned = [
        np.where(mask, kernel, 0).astype(np.float32)
        for kernel, mask in zip(kernels, masks, strict=True)
    ]
    blocks = live_blocks(pruned)
    small = [p[np.ix_(rows, columns)] for p, (rows, columns) in zip(pruned, blocks, strict=True)]
    small_masks = [
        m[np.ix_(rows, columns)] for m, (rows, columns) in zip(masks, blocks, strict=True)
    ]
    return small, small_masks


def write_back(
    small: list[np.ndarray], kernels: list[np.ndarray], masks: list[np.ndarray]
) -> list[np.ndarray]:
    """Full-size kernels: the pruned ``kernels`` with their live blocks replaced by ``small``.

    Weights outside the live blocks keep their pruned values (zero where the mask removed them,
    unchanged elsewhere), so the zero pattern is exactly the one the masks set, as long as
    ``small`` respects its masks.
    """
    pruned = [
        np.where(mask, kernel, 0).astype(np.float32)
        for kernel, mask in zip(kernels, masks, strict=True)
    ]
    result = []
    for full, part, (rows, columns) in zip(pruned, small, live_blocks(pruned), strict=True):
        full = full.copy()
        full[np.ix_(rows, columns)] = part
        result.append(full)
    return result


def zero_pattern(kernels: list[np.ndarray]) -> list[np.ndarray]:
    """The keep-masks of a pruned network: its non-zero weights; the logits kernel all kept."""
    *hidden, logits = kernels
    return [kernel != 0 for kernel in hidden] + [np.ones(logits.shape, dtype=bool)]


def check_zero_pattern(kernels: list[np.ndarray], masks: list[np.ndarray]) -> None:
    """Every weight the mask removed must still be exactly zero."""
    for index, (kernel, mask) in enumerate(zip(kernels, masks, strict=True)):
        if np.any(kernel[~mask] != 0):
            raise RuntimeError(f"kernel {index}: fine-tuning revived weights the mask removed")


# --- training (Keras) ----------------------------------------------------------------------


def finetune_oneshot(
    pruned: list[np.ndarray], seed: int, fit: Split, params: Params
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Train the live sub-network of ``pruned`` under its fixed zero pattern.

    Returns the full-size kernels, the masks and the optimiser steps taken.
    """
    masks = zero_pattern(pruned)
    small, small_masks = submatrices(pruned, masks)
    if any(kernel.shape[1] == 0 for kernel in small[:-1]):
        # Nothing reaches the logits: there is no network left to train.
        return write_back(small, pruned, masks), masks, 0
    from prunelab.model.network import get_kernels, masked_model

    model, _ = masked_model(small, small_masks, params.finetune.dropout)
    steps = fit_model(model, fit, seed, params)
    return write_back(get_kernels(model), pruned, masks), masks, steps


def fit_model(
    model: Any, fit: Split, seed: int, params: Params, hooks: StepHooks | None = None
) -> int:
    """Train for ``finetune.epochs`` with AdamW, the rate cosine-decayed to 0; return the steps."""
    finetune = params.finetune
    trainer = Trainer(
        model,
        finetune.learning_rate,
        total_steps(fit, params),
        params.train.weight_decay,
        finetune.batch_size,
    )
    return trainer.train_epochs(
        fit, finetune.epochs, seed, params.train.flip_augment, hooks=hooks
    )


def total_steps(fit: Split, params: Params) -> int:
    """Optimiser steps of one fine-tuning run: ``finetune.epochs`` passes over ``fit``."""
    return steps_per_epoch(len(fit.labels), params.finetune.batch_size) * params.finetune.epochs
