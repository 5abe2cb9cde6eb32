"""The controls a reviewer asks of a pruning result: is the pruned network better than the same
small network trained directly?

* :func:`scratch_network`: unit pruning's compact architecture at k (its live widths, e.g.
  784-100-100-50-20-10 at 90 %) initialised afresh, as Keras initialises any network of those
  widths ("Rethinking the Value of Network Pruning", Liu et al., ICLR 2019).
* :func:`ticket_start`: weight pruning's mask at k applied to the seed's *initial* weights, the
  ones the train stage started from ("The Lottery Ticket Hypothesis", Frankle & Carbin, ICLR
  2019); :func:`reinitialised` gives the same mask another initialisation, the control.

Both are then trained by :func:`train_masked` with the dense network's own recipe -- optimiser,
learning rate and schedule, weight decay, dropout, batch size, epochs, the same training split and
shuffles, and the epoch of best validation accuracy restored -- with the mask fixed (re-applied
after every optimiser step), only the live sub-network computed, as in fine-tuning. Keras is
imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from prunelab.data.datasets import Split
from prunelab.model.structure import live_blocks
from prunelab.model.training import BestEpoch, EpochScores, Trainer, steps_per_epoch
from prunelab.model.weights import hidden_widths
from prunelab.retraining.finetune import (
    check_zero_pattern,
    submatrices,
    write_back,
    zero_pattern,
)
from prunelab.wiring.params import Params

#: The reinitialised control draws its weights with seed ``REINIT_SEED_OFFSET + seed``: another
#: initialisation from the same distribution, never one a train stage starts from.
REINIT_SEED_OFFSET = 10_000


def initial_kernels(hidden: tuple[int, ...], seed: int, dropout: float) -> list[np.ndarray]:
    """The kernels a network of these hidden widths starts from when Keras' random state is
    ``seed``, exactly as the train stage builds it (:func:`prunelab.model.network.build_mlp`
    right after ``keras.utils.set_random_seed(seed)``)."""
    import keras

    from prunelab.model.network import build_mlp, get_kernels

    keras.utils.set_random_seed(seed)
    return get_kernels(build_mlp(hidden, dropout=dropout))


def reinitialised(hidden: tuple[int, ...], seed: int, dropout: float) -> list[np.ndarray]:
    """Another initialisation of the dense network with these hidden widths (seed
    :data:`REINIT_SEED_OFFSET` + ``seed``)."""
    return initial_kernels(hidden, REINIT_SEED_OFFSET + seed, dropout)


def ticket_start(initial: list[np.ndarray], pruned: list[np.ndarray]
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The start of a lottery ticket: ``initial`` with the zeros of the weight-pruned network
    ``pruned`` (its hidden kernels' zero pattern; the logits kernel is never masked), and the
    masks. Weights the mask keeps are ``initial``'s, bit for bit."""
    masks = zero_pattern(pruned)
    start = [np.where(mask, kernel, np.float32(0)).astype(np.float32)
             for kernel, mask in zip(initial, masks, strict=True)]
    return start, masks


def scratch_network(unit_pruned: list[np.ndarray], seed: int, dropout: float
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The compact widths of ``unit_pruned`` (its live units), freshly initialised: the small
    kernels and their all-kept masks. Keras' random state is set to ``seed`` first, so the draw
    is the seed's, as for the dense network. :func:`embed` puts the trained network back into
    the full shapes."""
    import keras

    from prunelab.model.network import build_mlp, get_kernels

    small, _ = submatrices(unit_pruned, zero_pattern(unit_pruned))
    keras.utils.set_random_seed(seed)
    fresh = get_kernels(build_mlp(hidden_widths(small), dropout=dropout))
    return fresh, [np.ones(k.shape, dtype=bool) for k in fresh]


def embed(small: list[np.ndarray], unit_pruned: list[np.ndarray]) -> list[np.ndarray]:
    """Full-size kernels, zero everywhere but at the live units of ``unit_pruned``, which hold
    ``small`` (so the evaluation and the benchmark read it like any pruned network)."""
    full = [np.zeros(kernel.shape, np.float32) for kernel in unit_pruned]
    for target, part, (rows, columns) in zip(full, small, live_blocks(unit_pruned), strict=True):
        target[np.ix_(rows, columns)] = part
    return full


def train_masked(start: list[np.ndarray], masks: list[np.ndarray], seed: int, fit: Split,
                 val: Split, params: Params, report: Callable[[EpochScores], None]
                 ) -> tuple[list[np.ndarray], BestEpoch, int]:
    """Train ``start`` under its fixed ``masks`` with the train stage's recipe; return the
    kernels of the best-validation epoch (full size, masked weights exactly zero), that epoch
    and the optimiser steps taken."""
    from prunelab.model.network import masked_model
    from prunelab.model.training import train_keeping_best

    small, small_masks = submatrices(start, masks)
    settings = params.train
    steps = steps_per_epoch(len(fit.labels), settings.batch_size) * settings.epochs
    if any(kernel.shape[1] == 0 for kernel in small[:-1]):
        raise ValueError("the mask leaves no path from the pixels to the logits: nothing to train")
    model, _ = masked_model(small, small_masks, settings.dropout)
    trainer = Trainer(model, settings.learning_rate,
                      steps if settings.lr_schedule == "cosine" else None,
                      settings.weight_decay, settings.batch_size)
    best = train_keeping_best(trainer, model, fit, val, settings.epochs, seed,
                              settings.flip_augment, report)
    return write_back(best.kernels, start, masks), best, steps


def train_control(start: list[np.ndarray], masks: list[np.ndarray], seed: int, fit: Split,
                  val: Split, params: Params, label: str
                  ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """:func:`train_masked` with Keras' random state set to ``seed`` first (dropout and the
    training loop, as in the train stage), one line printed per epoch, and the zero pattern
    checked; returns the trained kernels and their log (seconds, optimiser steps, epochs,
    restored epoch, validation accuracy)."""
    import keras

    def report(scores: EpochScores) -> None:
        print(f"{label}: epoch {scores.epoch + 1}: loss {scores.loss:.4f}, "
              f"val_accuracy {scores.val_accuracy:.4f}", flush=True)

    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    trained, best, steps = train_masked(start, masks, seed, fit, val, params, report)
    seconds = time.perf_counter() - started
    check_zero_pattern(trained, masks)
    return trained, {"seconds": round(seconds, 2), "steps": steps, "epochs": params.train.epochs,
                     "best_epoch": best.epoch + 1, "val_accuracy": round(best.val_accuracy, 6)}
