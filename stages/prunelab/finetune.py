"""The numpy side of fine-tuning: the gradual-pruning schedule and the masked sub-network.

No Keras and no I/O here, so the schedule and the bookkeeping are plainly testable; the stage
``stages/finetune.py`` does the training.
"""

from __future__ import annotations

import numpy as np

from prunelab.sparsity import live_blocks


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
    pruned = [np.where(mask, kernel, 0).astype(np.float32) for kernel, mask in zip(kernels, masks)]
    blocks = live_blocks(pruned)
    small = [p[np.ix_(rows, columns)] for p, (rows, columns) in zip(pruned, blocks)]
    small_masks = [m[np.ix_(rows, columns)] for m, (rows, columns) in zip(masks, blocks)]
    return small, small_masks


def write_back(
    small: list[np.ndarray], kernels: list[np.ndarray], masks: list[np.ndarray]
) -> list[np.ndarray]:
    """Full-size kernels: the pruned ``kernels`` with their live blocks replaced by ``small``.

    Weights outside the live blocks keep their pruned values (zero where the mask removed them,
    unchanged elsewhere), so the zero pattern is exactly the one the masks set, as long as
    ``small`` respects its masks.
    """
    pruned = [np.where(mask, kernel, 0).astype(np.float32) for kernel, mask in zip(kernels, masks)]
    result = []
    for full, part, (rows, columns) in zip(pruned, small, live_blocks(pruned)):
        full = full.copy()
        full[np.ix_(rows, columns)] = part
        result.append(full)
    return result
