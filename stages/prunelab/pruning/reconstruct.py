"""One-shot pruning with reconstruction: a pure numpy core (no Keras, no TensorFlow, no I/O).

The magnitude methods of :mod:`prunelab.pruning.masks` only zero weights. The methods here look at
the network's activations on a *calibration set* (a few thousand training images) and either refit
the surviving weights so that each layer still computes what the dense layer computed, or rank
the weights by how much signal flows through them. Three methods, never pruning the logits
kernel:

* ``"weight_refit"``: each hidden kernel loses exactly the number of entries that
  ``pruning.weight_mask`` removes, *column by column the same number*; the kept weights are refit
  by least squares (exactly, or by SparseGPT's Optimal-Brain-Surgeon update for columns keeping
  many weights), and columns keeping few weights choose them by greedy least squares instead of
  by magnitude (see :func:`reconstruct_network`).
* ``"unit_refit"``: each hidden kernel loses as many output units (columns) as
  ``pruning.unit_mask``, chosen by greedy forward selection for the refit that follows
  (:mod:`prunelab.pruning.unit_selection`); the next kernel's rows of the kept units are refit by
  ridge least squares and its rows of the pruned units become zero (ThiNet-style).
* ``"wanda"``: Wanda's score ``|w_ij| * ||x_i||_2`` ranked within each output column
  (:func:`wanda_mask`), no weight update.

Layers are processed in network order. Layer ``l``'s inputs ``X`` are the activations of the
network *pruned so far* on the calibration set (layers ``< l`` already pruned and refit); its
target is the *dense* network's pre-activations ``X_dense @ W_dense`` of layer ``l``. A refit
minimises, over the kept entries of each column ``w`` (the others fixed at ``0``),

    ``||X w - X_dense w_dense||^2 + lam * ||w - w_dense||^2``,  ``lam = ridge * mean(diag(X^T X))``

i.e. ridge regression shrunk towards the dense weights (not towards zero): the ridge scales with
the inputs' energy, so one ``ridge`` suits every layer, and a weight whose input is zero on the
whole calibration set keeps its dense value instead of collapsing to zero.

Kernels and calibration inputs are taken as float32 (the network's precision) and all arithmetic
is float64: activations, Gram matrices, right-hand sides, factorisations, scores; each refit
kernel is rounded to float32 before it feeds the next layer, so later layers see the weights the
network will have. The kernels come back as new float32 arrays and the inputs are never
modified. Everything is deterministic: the same arguments give the same bits (ties are broken by
position, never at random), also whatever the number of BLAS threads -- unlike float32 products,
whose OpenBLAS results changed with the thread count on the lab's CPUs (measured).
"""

from __future__ import annotations

import math

import numpy as np

from prunelab.data.calibration import check_calibration
from prunelab.model.structure import check_chain
from prunelab.pruning.masks import count_to_prune, weight_mask
from prunelab.pruning.refit import (
    cholesky_solve,
    refit_weights,
    ridge_system,
    ridge_terms,
    solve_rows,
)
from prunelab.pruning.unit_selection import select_units
from prunelab.wiring.names import RECONSTRUCT_METHODS

DEFAULT_RIDGE = 0.01


def wanda_mask(matrix: np.ndarray, input_norms: np.ndarray, k: int) -> np.ndarray:
    """Boolean keep-mask (``True`` = kept) of Wanda: score ``|w_ij| * input_norms[i]`` per column.

    Exactly ``total = count_to_prune(matrix.size, k)`` entries are ``False`` -- the same total as
    ``pruning.weight_mask`` -- spread over the output columns as evenly as possible: with
    ``q, r = divmod(total, columns)`` every column loses its ``q`` lowest-scoring entries and
    ``r`` columns lose one more, namely the ``r`` columns whose next-lowest (``q + 1``-th) score
    is smallest. When ``columns`` divides ``total`` (for the lab's MLP: every kernel with 1000 or
    500 inputs, and the 784-input one at k in {0, 25, 50, 75}) each column loses
    ``k * inputs / 100`` entries, Wanda's per-output rule; otherwise some lose one more than
    others. Scores are float64. Ties are broken by position: within a column the lower row
    index is removed first; among columns tied for an extra removal the lower column index.

    Args:
        matrix: a 2-D kernel ``(inputs, outputs)``.
        input_norms: ``(inputs,)`` L2 norms of each input over the calibration set, ``>= 0``.
        k: percentage to remove, an integer in ``[0, 100)``.

    Returns:
        A ``bool`` array of ``matrix.shape``.

    Raises:
        ValueError: on a non-2-D matrix, norms of the wrong shape, NaN, negative norms, or an
            invalid ``k``.
    """
    matrix = np.asarray(matrix)
    norms = np.asarray(input_norms, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"wanda needs a 2-D matrix, got shape {matrix.shape}")
    if norms.shape != (matrix.shape[0],):
        raise ValueError(f"input_norms has shape {norms.shape}, expected ({matrix.shape[0]},)")
    if not np.isfinite(norms).all() or (norms < 0).any():
        raise ValueError("input_norms must be finite and >= 0")
    scores = np.abs(matrix.astype(np.float64)) * norms[:, None]
    if np.isnan(scores).any():
        raise ValueError("cannot prune a matrix containing NaN: NaN has no magnitude order")
    columns = matrix.shape[1]
    total = count_to_prune(matrix.size, k)
    keep = np.ones(matrix.shape, dtype=bool)
    if total == 0:
        return keep
    per_column, extra = divmod(total, columns)
    order = np.argsort(scores, axis=0, kind="stable")  # per column, lower row first on ties
    every = np.arange(columns)
    keep[order[:per_column], every] = False
    if extra:
        next_scores = scores[order[per_column], every]
        chosen = np.argsort(next_scores, kind="stable")[:extra]
        keep[order[per_column, chosen], chosen] = False
    return keep


def reconstruct_network(
    kernels: list[np.ndarray],
    method: str,
    k: int,
    calibration: np.ndarray,
    *,
    ridge: float = DEFAULT_RIDGE,
    refit_logits: bool = False,
) -> list[np.ndarray]:
    """New float32 kernels: the hidden ones pruned by ``method`` at ``k`` percent, with refits.

    The network is bias-free with a ReLU after every kernel but the last (see
    :func:`prunelab.model.forward.forward`). With ``L`` kernels, the hidden ones are
    ``kernels[:-1]``;
    the logits kernel ``kernels[-1]`` is never pruned.

    * ``"weight_refit"``: hidden kernel ``W`` (``inputs x outputs``) ends with exactly
      ``count_to_prune(W.size, k)`` zero entries (the removed ones), and every output column
      keeps exactly as many entries as ``pruning.weight_mask(W, k)`` keeps in it (so the
      magnitude mask decides how the count is shared among the columns). Which entries a column
      keeps, and their values, depend on how many it keeps -- the exact least-squares refit costs
      ``O(kept^3)`` per column, affordable only for narrow columns:

      - at most :data:`prunelab.pruning.refit.GREEDY_MAX_KEPT`: chosen by greedy forward selection
        (orthogonal least squares: repeatedly add the input that lowers the column's refit
        objective most, the lower row index on ties), then solved exactly by ridge least
        squares on that support;
      - at most :data:`prunelab.pruning.refit.EXACT_MAX_KEPT`: the magnitude mask's entries, solved
        exactly;
      - wider (only at low sparsity): the magnitude mask's entries, refit by SparseGPT's update
        (Frantar & Alistarh 2023): the ridge optimum with all inputs, then the removed entries
        eliminated row by row in input order, each with the Optimal-Brain-Surgeon correction of
        the later rows taken from the Cholesky factor of the inverse Hessian, in lazy blocks of
        :data:`prunelab.pruning.refit.SPARSEGPT_BLOCK` rows -- approximate least squares,
        ``O(inputs^2)`` per column.

    * ``"unit_refit"``: hidden kernel ``l`` (its rows of the previous layer's kept units
      already refit) loses exactly ``count_to_prune(outputs, k)`` columns, as many as
      ``pruning.unit_mask`` removes. Which ones: the kept set is chosen by
      :func:`prunelab.pruning.unit_selection.greedy_units` from the pruned network's activations of
      all this layer's units, so that the refit of the next kernel reproduces its dense
      pre-activations best (ties: lower index). The kept columns keep their values; the next
      kernel's rows of the pruned units become zero and its rows of the kept units are refit by
      ridge least squares on the kept units' activations -- for the next hidden kernel always,
      for the logits kernel only with ``refit_logits``.
    * ``"wanda"``: hidden kernel ``l`` keeps :func:`wanda_mask` of itself with the L2 norms of
      its inputs over the calibration set (the pruned network's activations); no weight changes.

    Refit objective and ridge: see the module docstring (targets are the dense network's
    pre-activations; ``lam = ridge * mean(diag(X^T X))``, shrinking towards the dense weights).

    The logits kernel comes back as a bit-identical float32 copy unless ``refit_logits``, which
    re-solves it by ridge least squares so that the pruned network's logits match the dense
    network's on the calibration set -- all rows for ``"weight_refit"``; for ``"unit_refit"`` the
    rows of kept units, while the rows of pruned units (which only ever read zeros) keep their
    dense values. No entry of the logits kernel is ever removed. A refit kept weight is
    generically nonzero; it can be exactly zero only by coincidence (for instance a column whose
    dense weights are all zero).

    ``k == 0`` returns bit-identical float32 copies of ``kernels`` (no refit, even with
    ``refit_logits``).

    Cost on the lab's MLP with 4096 calibration images (2-vCPU AMD EPYC, measured while other
    processes ran): ``"weight_refit"`` 1.0-2.3 s per call (the most at k = 80-90, where many
    columns are narrow enough for the greedy selection yet keep ~100-250 weights),
    ``"unit_refit"`` 1.1-1.9 s of CPU (the Gram products of every candidate unit dominate, not
    the selection), ``"wanda"`` 0.3 s; about linear in the calibration size except the greedy
    selections, which do not depend on it.

    Args:
        kernels: 2-D arrays ``(inputs, outputs)`` that chain, finite, at least one.
        method: one of :data:`prunelab.wiring.names.RECONSTRUCT_METHODS`.
        k: percentage to prune, an integer in ``[0, 100)``.
        calibration: ``(examples, kernels[0].shape[0])`` finite network inputs, ``examples >= 1``
            (see :func:`prunelab.data.calibration.calibration_indices`).
        ridge: relative ridge strength, a finite number ``> 0``.
        refit_logits: refit the logits kernel (``"weight_refit"`` and ``"unit_refit"`` only;
            ``"wanda"`` never updates weights and rejects it).

    Returns:
        A new list of new float32 arrays, one per kernel, of the same shapes.

    Raises:
        ValueError: on an unknown method, an invalid ``k``, kernels that are not 2-D, do not
            chain or hold NaN or infinity, a calibration set of the wrong shape or not finite,
            a ridge that is not a finite positive number, or ``refit_logits`` with ``"wanda"``.
    """
    if method not in RECONSTRUCT_METHODS:
        allowed = ", ".join(repr(m) for m in RECONSTRUCT_METHODS)
        raise ValueError(f"unknown reconstruction method {method!r}: it must be one of {allowed}")
    count_to_prune(0, k)  # validates k
    arrays = _check_kernels(kernels)
    inputs = check_calibration(calibration, arrays[0].shape[0])
    if (
        isinstance(ridge, (bool, np.bool_))
        or not isinstance(ridge, (int, float, np.integer, np.floating))
        or not (math.isfinite(ridge) and ridge > 0)
    ):
        raise ValueError(f"ridge is {ridge!r}: it must be a finite number > 0")
    if not isinstance(refit_logits, (bool, np.bool_)):
        raise ValueError(f"refit_logits is {refit_logits!r}: it must be a bool")
    if method == "wanda" and refit_logits:
        raise ValueError("wanda never updates weights: refit_logits must be False")
    if k == 0:
        return arrays
    # Widening is exact, so masks computed on the wide copies are those of the float32 kernels.
    wide = [array.astype(np.float64) for array in arrays]
    if method == "weight_refit":
        return _weight_refit(wide, k, inputs, float(ridge), bool(refit_logits))
    if method == "unit_refit":
        return _unit_refit(wide, k, inputs, float(ridge), bool(refit_logits))
    return _wanda(wide, k, inputs)


# --- the three methods ---------------------------------------------------------------------


def _weight_refit(
    kernels: list[np.ndarray], k: int, inputs: np.ndarray, ridge: float, refit_logits: bool
) -> list[np.ndarray]:
    dense_in = pruned_in = inputs
    result = []
    for kernel in kernels[:-1]:
        target = dense_in @ kernel
        system, rhs = ridge_system(pruned_in, target, kernel, ridge, same=pruned_in is dense_in)
        new = refit_weights(system, rhs, weight_mask(kernel, k))
        result.append(new)
        dense_in = np.maximum(target, 0.0)
        pruned_in = np.maximum(pruned_in @ new, 0.0)
    rows = np.ones(kernels[-1].shape[0], dtype=bool)
    result.append(_logits(kernels[-1], dense_in, pruned_in, rows, ridge, refit_logits))
    return result


def _unit_refit(
    kernels: list[np.ndarray], k: int, inputs: np.ndarray, ridge: float, refit_logits: bool
) -> list[np.ndarray]:
    hidden = len(kernels) - 1
    # ``current``: kernel ``layer`` restricted to the rows of the previous layer's kept units,
    # every column (refit, float32-exact); ``live_in``: the pruned network's activations of those
    # units (all network inputs at first), so every product runs on the shrunk matrices.
    dense_in = live_in = inputs
    rows = np.ones(inputs.shape[1], dtype=bool)
    current = kernels[0]
    result = []
    for layer in range(hidden):
        candidates = np.maximum(live_in @ current, 0.0)  # every unit of this layer
        dense_in = np.maximum(dense_in @ kernels[layer], 0.0)
        following = kernels[layer + 1]
        gram = candidates.T @ candidates
        cross = candidates.T @ (dense_in @ following)
        units = following.shape[0]
        kept = np.zeros(units, dtype=bool)
        kept[select_units(gram, cross, following, units - count_to_prune(units, k), ridge)] = True
        pruned = np.zeros(kernels[layer].shape, dtype=np.float32)
        pruned[np.ix_(rows, kept)] = current[:, kept]
        result.append(pruned)
        if layer + 1 < hidden or refit_logits:
            system, rhs = ridge_terms(
                gram[np.ix_(kept, kept)], cross[kept], following[kept], ridge
            )
            current = cholesky_solve(system, rhs).astype(np.float32).astype(np.float64)
        else:
            current = following[kept]
        live_in = candidates[:, kept]
        rows = kept
    logits = np.array(kernels[-1], dtype=np.float32, copy=True)
    logits[rows] = current.astype(np.float32)
    result.append(logits)
    return result


def _wanda(kernels: list[np.ndarray], k: int, inputs: np.ndarray) -> list[np.ndarray]:
    pruned_in = inputs
    result = []
    for kernel in kernels[:-1]:
        norms = np.sqrt(np.einsum("ij,ij->j", pruned_in, pruned_in))
        pruned = np.where(wanda_mask(kernel, norms, k), kernel, 0.0).astype(np.float32)
        result.append(pruned)
        pruned_in = np.maximum(pruned_in @ pruned, 0.0)
    result.append(np.array(kernels[-1], dtype=np.float32, copy=True))
    return result


def _logits(
    kernel: np.ndarray,
    dense_in: np.ndarray,
    live_in: np.ndarray,
    rows: np.ndarray,
    ridge: float,
    refit: bool,
) -> np.ndarray:
    """The logits kernel: a float32 copy, or with its ``rows`` refit (``live_in`` are their
    inputs); the other rows keep their dense values."""
    if not refit:
        return np.array(kernel, dtype=np.float32, copy=True)
    refit_kernel = kernel.copy()
    refit_kernel[rows] = solve_rows(live_in, dense_in, kernel, rows, ridge)
    return refit_kernel.astype(np.float32)


# --- checks ------------------------------------------------------------------------------------


def _check_kernels(kernels: list[np.ndarray]) -> list[np.ndarray]:
    """New float32 copies of the kernels, after checking that they are finite, 2-D and chain."""
    arrays = check_chain(kernels)
    for index, array in enumerate(arrays):
        if not np.issubdtype(array.dtype, np.number):
            raise ValueError(f"kernel {index} holds non-numbers ({array.dtype})")
    with np.errstate(over="ignore"):  # too large for float32: infinity, rejected below
        copies = [array.astype(np.float32) for array in arrays]
    for index, copy in enumerate(copies):
        if not np.isfinite(copy).all():
            raise ValueError(f"kernel {index} holds NaN or infinity (as float32)")
    return copies
