"""Fine-tuning a pruned network with its mask fixed (one-shot) or tightening (gradual).

The numpy side -- the gradual-pruning schedule, the live sub-network and the zero pattern -- is
plainly testable without Keras; :func:`finetune_oneshot` and :func:`finetune_gradual` train. No
I/O here, and Keras is imported only inside the training functions, so importing this module
stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from prunelab.datasets import Split
from prunelab.params import Params
from prunelab.pruning import network_masks
from prunelab.sparsity import live_blocks
from prunelab.training import StepHooks, Trainer, steps_per_epoch


def cubic_sparsity(update: int, updates: int, k: int) -> int:
    """Percent pruned after mask update ``update`` of ``updates`` on the way to ``k``.

    The cubic schedule of Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of
    pruning for model compression" (2017), from 0 to ``k``: ``k * (1 - (1 - update/updates)**3)``,
    rounded to a whole percent because the pruning core counts in whole percents. It rises fast
    first, while many redundant weights remain, and slowly near ``k``. ``update == updates``
    gives exactly ``k``; ``update == 0`` gives 0.
    """
    if not 0 <= update <= updates:
        raise ValueError(f"update {update} is outside [0, {updates}]")
    remaining = (updates - update) / updates
    return round(k * (1 - remaining**3))


def gradual_plan(total_steps: int, ramp: float, updates: int, k: int) -> list[tuple[int, int]]:
    """``(step, percent)`` pairs: before optimiser step ``step`` (0-based), prune to ``percent``.

    The ``updates`` mask updates are spread evenly over the first ``ramp_steps =
    max(1, round(ramp * total_steps))`` steps: update ``j`` (1-based) prunes to
    :func:`cubic_sparsity` ``(j, updates, k)`` before step ``ceil(j * ramp_steps / updates) - 1``.
    So the last update, to exactly ``k``, comes before the last step of the ramp, and the
    remaining steps retrain with the final mask. Updates that fall on one step (more updates than
    ramp steps) are merged, the higher percent winning.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps is {total_steps}: fine-tuning needs at least one step")
    ramp_steps = max(1, round(ramp * total_steps))
    plan: dict[int, int] = {}
    for update in range(1, updates + 1):
        step = -(-update * ramp_steps // updates) - 1  # ceil in integers: never below 0
        plan[step] = max(plan.get(step, 0), cubic_sparsity(update, updates, k))
    return sorted(plan.items())


def submatrices(
    kernels: list[np.ndarray], masks: list[np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The pruned network restricted to its live units, with the matching masks.

    Units that pruning left dead (see ``prunelab.sparsity.alive_units``) can neither change the
    logits nor receive a gradient, so training the smaller network and writing it back with
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
    from prunelab.model import get_kernels, masked_model

    model, _ = masked_model(small, small_masks, params.finetune.dropout)
    steps = fit_model(model, fit, seed, params)
    return write_back(get_kernels(model), pruned, masks), masks, steps


def finetune_gradual(
    dense: list[np.ndarray], method: str, k: int, seed: int, fit: Split, params: Params
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Train the full network while its mask tightens along the cubic schedule.

    Returns the kernels, the final masks and the optimiser steps taken.
    """
    from prunelab.model import get_kernels, kernel_variables, masked_model

    all_kept = [np.ones(kernel.shape, dtype=bool) for kernel in dense]
    model, mask_variables = masked_model(dense, all_kept, params.finetune.dropout)
    gradual = params.gradual
    plan = gradual_plan(total_steps(fit, params), gradual.ramp, gradual.updates, k)
    final_masks: list[list[np.ndarray]] = []

    def tighten_to(percent: int) -> Callable[[], None]:
        """Recompute the mask by ``method`` at ``percent`` from the current weights; apply it."""

        def tighten() -> None:
            masks = network_masks(get_kernels(model), method, percent, seed)
            layers = zip(mask_variables, kernel_variables(model), masks, strict=True)
            for variable, layer_kernel, mask in layers:
                variable.assign(mask.astype(np.float32))
                layer_kernel.assign(np.where(mask, layer_kernel.numpy(), 0))
            final_masks[:] = [masks]

        return tighten

    hooks = {step: tighten_to(percent) for step, percent in plan}
    steps = fit_model(model, fit, seed, params, hooks)
    return get_kernels(model), final_masks[0], steps


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
