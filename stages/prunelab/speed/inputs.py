"""The inputs the benchmark feeds every route and network, the same for all of them.

``images`` (:func:`image_inputs`), a seeded choice of test images, what a deployed network meets
(half the pixels are zero, and ReLU zeroes most hidden activations: the ``numba`` and
``numba-csr`` kernels skip zero activations); and ``random`` (:func:`random_inputs`), seeded
uniform [0, 1) pixels with no zero at all, the stress case. Small batches cycle through
:data:`INPUT_POOL` distinct batches, so no route can learn one input's branch pattern by heart.
Per network and input kind, :func:`zero_input_shares` measures the share of zero inputs of every
layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prunelab.speed.routes.base import Kernels

#: Distinct input batches cycled through at batch sizes up to SMALL_BATCH.
INPUT_POOL = 16
SMALL_BATCH = 16
SEED = 0
#: The input kinds, in the order they are timed and reported (module docstring).
INPUT_KINDS = ("images", "random")
#: Rows of the routes' logit check on each input kind.
CHECK_ROWS = 8

@dataclass(frozen=True)
class Inputs:
    """One input kind: the pools of batches per batch size, the check batch of the routes'
    logits, and every distinct input in the pools (for :func:`zero_input_shares`)."""

    kind: str
    pools: dict[int, list[np.ndarray]]
    check: np.ndarray
    distinct: np.ndarray


def pool_size(batch: int) -> int:
    """Distinct batches cycled through at one batch size."""
    return INPUT_POOL if batch <= SMALL_BATCH else 1


def _pooled(kind: str, rows: np.ndarray, batch_sizes: tuple[int, ...]) -> Inputs:
    """Every batch size's pool cut from the front of ``rows`` (so small pools share inputs)."""
    pools = {n: list(rows[: pool_size(n) * n].reshape(pool_size(n), n, rows.shape[1]))
             for n in batch_sizes}
    return Inputs(kind, pools, rows[:CHECK_ROWS], rows)


def inputs_needed(batch_sizes: tuple[int, ...]) -> int:
    """Distinct inputs the largest pool needs (at least the check batch)."""
    return max([CHECK_ROWS] + [pool_size(n) * n for n in batch_sizes])


def image_inputs(images: np.ndarray, batch_sizes: tuple[int, ...]) -> Inputs:
    """A seeded choice of ``images`` (the test split, ``(n, pixels)`` in [0, 1]): distinct images
    while the split has enough, else drawn with replacement."""
    needed = inputs_needed(batch_sizes)
    chosen = np.random.default_rng(SEED).choice(len(images), needed, replace=needed > len(images))
    return _pooled("images", np.ascontiguousarray(images[chosen], np.float32), batch_sizes)


def random_inputs(pixels: int, batch_sizes: tuple[int, ...]) -> Inputs:
    """Seeded uniform [0, 1) pixels: no pixel is zero."""
    rng = np.random.default_rng(SEED)
    rows = rng.random((inputs_needed(batch_sizes), pixels), dtype=np.float32)
    return _pooled("random", rows, batch_sizes)


def zero_input_shares(kernels: Kernels, inputs: np.ndarray) -> list[float]:
    """Per layer, the share of exactly zero values among the inputs it multiplies: the pixels,
    then each hidden layer's ReLU outputs (the network's own units, as ``kernels`` has them)."""
    shares = []
    activations = inputs.astype(np.float32)
    for index, kernel in enumerate(kernels):
        shares.append(float(np.mean(activations == 0.0)) if activations.size else 0.0)
        if index < len(kernels) - 1:
            activations = np.maximum(activations @ kernel, np.float32(0.0))
    return shares
