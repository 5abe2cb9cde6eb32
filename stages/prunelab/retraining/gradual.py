"""Gradual pruning (Zhu & Gupta): the full network trains while its mask tightens from 0 to k.

The schedule is numpy and testable without Keras; :func:`finetune_gradual` trains, recomputing
the mask with :func:`prunelab.pruning.masks.network_masks` at each scheduled step. No I/O here,
and Keras is imported only inside the training function.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from prunelab.data.datasets import Split
from prunelab.pruning.masks import network_masks
from prunelab.retraining.finetune import fit_model, total_steps
from prunelab.wiring.params import Params


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


def finetune_gradual(
    dense: list[np.ndarray], method: str, k: int, seed: int, fit: Split, params: Params
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Train the full network while its mask tightens along the cubic schedule.

    Returns the kernels, the final masks and the optimiser steps taken.
    """
    from prunelab.model.network import get_kernels, kernel_variables, masked_model

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
