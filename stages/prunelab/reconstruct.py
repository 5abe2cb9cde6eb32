"""One-shot pruning with reconstruction: a pure numpy core (no Keras, no TensorFlow, no I/O).

The magnitude methods of :mod:`prunelab.pruning` only zero weights. The methods here look at the
network's activations on a *calibration set* (a few thousand training images) and either refit
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
  (:mod:`prunelab.unit_selection`); the next kernel's rows of the kept units are refit by ridge
  least squares and its rows of the pruned units become zero (ThiNet-style).
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
import scipy.linalg
from threadpoolctl import threadpool_limits

from prunelab.params import RECONSTRUCT_METHODS
from prunelab.pruning import count_to_prune, weight_mask
from prunelab.sparsity import check_chain
from prunelab.unit_selection import greedy_units

DEFAULT_RIDGE = 0.01

# How "weight_refit" treats an output column, by the number of weights it keeps (see
# reconstruct_network): at most GREEDY_MAX_KEPT: greedy support and exact solve (cost ~ inputs *
# kept^2 / 2); at most EXACT_MAX_KEPT: magnitude support and exact solve (~ kept^3 / 3); wider
# (only at low sparsity, k < ~75 for the lab's MLP): magnitude support and SparseGPT's update
# (~ inputs^2 for all such columns together).
GREEDY_MAX_KEPT = 128
EXACT_MAX_KEPT = 256
# Rows per block of SparseGPT's lazy batch update (the paper's B = 128).
SPARSEGPT_BLOCK = 128
# Output columns handled together by the greedy selection and the batched solves (memory of the
# greedy basis ~ this * kept * inputs * 8 bytes).
_COLUMN_CHUNK = 16


def calibration_indices(
    examples: int, validation_fraction: float, seed: int, size: int
) -> np.ndarray:
    """Indices of ``size`` calibration examples drawn from the fit part of the training set.

    Re-derives the rule of ``prunelab.training.split_validation``: with
    ``order = numpy.random.default_rng(seed).permutation(examples)``, the validation part is
    ``order[:held]`` with ``held = max(1, round(validation_fraction * examples))`` (Python's
    ``round``) and the fit part is ``order[held:]``. The calibration examples are the first
    ``size`` entries of ``fit`` shuffled by ``numpy.random.default_rng([seed, 2])`` -- a stream
    of its own, apart from the split's (``seed``) and the training epochs' (``[seed, 1]``).
    So they never touch the validation part (nor the test set, another file), a smaller
    ``size`` draws a prefix of a larger one's draw, and the same arguments give the same
    indices.

    Args:
        examples: number of training examples, an integer ``>= 2``.
        validation_fraction: the training run's validation share, in ``(0, 1)``.
        seed: the training run's seed, an integer ``>= 0``.
        size: how many calibration examples, ``1 <= size <= examples - held``.

    Returns:
        ``int64`` indices into the training set, sorted ascending, without repeats.

    Raises:
        ValueError: on arguments outside those ranges, or a split leaving no fit example.
    """
    for name, value in (("examples", examples), ("seed", seed), ("size", size)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} is {value!r}: it must be an integer")
    if isinstance(validation_fraction, (bool, np.bool_)) or not isinstance(
        validation_fraction, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"validation_fraction is {validation_fraction!r}: it must be a number")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction is {validation_fraction}: it must lie in (0, 1)")
    if examples < 1 or seed < 0:
        raise ValueError(f"examples ({examples}) must be >= 1 and seed ({seed}) >= 0")
    order = np.random.default_rng(seed).permutation(examples)
    held = max(1, round(validation_fraction * examples))
    fit = order[held:]
    if not len(fit):
        raise ValueError(
            f"a validation share of {validation_fraction} of {examples} examples leaves no fit "
            "example to calibrate on"
        )
    if not 1 <= size <= len(fit):
        raise ValueError(
            f"calibration size is {size}: it must lie in [1, {len(fit)}], the {len(fit)} fit "
            f"examples left by a validation share of {validation_fraction} of {examples}"
        )
    drawn = fit[np.random.default_rng([seed, 2]).permutation(len(fit))[:size]]
    return np.sort(drawn).astype(np.int64)


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
    :func:`prunelab.weights.forward`). With ``L`` kernels, the hidden ones are ``kernels[:-1]``;
    the logits kernel ``kernels[-1]`` is never pruned.

    * ``"weight_refit"``: hidden kernel ``W`` (``inputs x outputs``) ends with exactly
      ``count_to_prune(W.size, k)`` zero entries (the removed ones), and every output column
      keeps exactly as many entries as ``pruning.weight_mask(W, k)`` keeps in it (so the
      magnitude mask decides how the count is shared among the columns). Which entries a column
      keeps, and their values, depend on how many it keeps -- the exact least-squares refit costs
      ``O(kept^3)`` per column, affordable only for narrow columns:

      - at most :data:`GREEDY_MAX_KEPT`: chosen by greedy forward selection (orthogonal least
        squares: repeatedly add the input that lowers the column's refit objective most, the
        lower row index on ties), then solved exactly by ridge least squares on that support;
      - at most :data:`EXACT_MAX_KEPT`: the magnitude mask's entries, solved exactly;
      - wider (only at low sparsity): the magnitude mask's entries, refit by SparseGPT's update
        (Frantar & Alistarh 2023): the ridge optimum with all inputs, then the removed entries
        eliminated row by row in input order, each with the Optimal-Brain-Surgeon correction of
        the later rows taken from the Cholesky factor of the inverse Hessian, in lazy blocks of
        :data:`SPARSEGPT_BLOCK` rows -- approximate least squares, ``O(inputs^2)`` per column.

    * ``"unit_refit"``: hidden kernel ``l`` (its rows of the previous layer's kept units
      already refit) loses exactly ``count_to_prune(outputs, k)`` columns, as many as
      ``pruning.unit_mask`` removes. Which ones: the kept set is chosen by
      :func:`prunelab.unit_selection.greedy_units` from the pruned network's activations of
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
        method: one of :data:`RECONSTRUCT_METHODS`.
        k: percentage to prune, an integer in ``[0, 100)``.
        calibration: ``(examples, kernels[0].shape[0])`` finite network inputs, ``examples >= 1``
            (see :func:`calibration_indices`).
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
    inputs = _check_calibration(calibration, arrays[0].shape[0])
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
        system, rhs = _ridge_system(pruned_in, target, kernel, ridge, same=pruned_in is dense_in)
        new = _refit_weights(system, rhs, weight_mask(kernel, k))
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
        kept[_select_units(gram, cross, following, units - count_to_prune(units, k), ridge)] = True
        pruned = np.zeros(kernels[layer].shape, dtype=np.float32)
        pruned[np.ix_(rows, kept)] = current[:, kept]
        result.append(pruned)
        if layer + 1 < hidden or refit_logits:
            system, rhs = _ridge_terms(
                gram[np.ix_(kept, kept)], cross[kept], following[kept], ridge
            )
            current = _cholesky_solve(system, rhs).astype(np.float32).astype(np.float64)
        else:
            current = following[kept]
        live_in = candidates[:, kept]
        rows = kept
    logits = np.array(kernels[-1], dtype=np.float32, copy=True)
    logits[rows] = current.astype(np.float32)
    result.append(logits)
    return result


def _select_units(
    gram: np.ndarray, cross: np.ndarray, following: np.ndarray, count: int, ridge: float
) -> np.ndarray:
    """The ``count`` units whose refit of the next kernel reproduces its dense pre-activations
    best, by greedy forward selection (:func:`prunelab.unit_selection.greedy_units`)."""
    system, rhs = _ridge_terms(gram, cross, following, ridge)
    prior_cost = _ridge_lambda(gram, ridge) * np.einsum("ij,ij->i", following, following)
    with _one_blas_thread():
        return greedy_units(system, rhs, prior_cost, count)


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
    refit_kernel[rows] = _solve_rows(live_in, dense_in, kernel, rows, ridge)
    return refit_kernel.astype(np.float32)


def _solve_rows(
    live_in: np.ndarray,
    dense_in: np.ndarray,
    dense: np.ndarray,
    rows: np.ndarray,
    ridge: float,
) -> np.ndarray:
    """Ridge least squares for the ``rows`` of the kernel ``dense`` (all its rows), read from
    ``live_in`` (the pruned network's activations of those rows' units)."""
    return _cholesky_solve(
        *_ridge_system(live_in, dense_in @ dense, dense[rows], ridge, same=False)
    )


# --- linear algebra ----------------------------------------------------------------------------


def _ridge_system(
    x: np.ndarray, target: np.ndarray, prior: np.ndarray, ridge: float, *, same: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(X^T X + lam I, X^T target + lam prior)`` with ``lam = ridge * mean(diag(X^T X))``.

    With ``same``, ``target == x @ prior`` is known, so ``X^T target = (X^T X) prior`` comes
    from the Gram matrix (cheaper when ``x`` has fewer columns than ``target`` has rows).
    """
    gram = x.T @ x
    return _ridge_terms(gram, gram @ prior if same else x.T @ target, prior, ridge)


def _ridge_lambda(gram: np.ndarray, ridge: float) -> float:
    """``ridge * mean(diag(gram))``, or ``ridge`` when the inputs carry no energy at all."""
    energy = float(np.mean(np.diagonal(gram))) if gram.size else 0.0
    return ridge * energy if energy > 0 else ridge


def _ridge_terms(
    gram: np.ndarray, cross: np.ndarray, prior: np.ndarray, ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(gram + lam I, cross + lam prior)`` as new arrays, ``lam`` from :func:`_ridge_lambda`."""
    lam = _ridge_lambda(gram, ridge)
    system = gram.copy()
    system[np.diag_indices_from(system)] += lam
    return system, cross + lam * prior


def _cholesky_solve(system: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    with _one_blas_thread():
        factor = scipy.linalg.cho_factor(system, lower=True, check_finite=False)
        return scipy.linalg.cho_solve(factor, rhs, check_finite=False)


def _one_blas_thread() -> threadpool_limits:
    """Factorisations and many small products run on one BLAS thread.

    Measured on the lab's 2-vCPU machines: a 1000 x 1000 Cholesky took 0.01-0.03 s on one
    OpenBLAS thread and 0.45 s on two while another process kept a core busy; batches of small
    solves were ~20 times faster. Large products (activations, Gram matrices) keep all threads.
    """
    return threadpool_limits(limits=1, user_api="blas")


def _refit_weights(system: np.ndarray, rhs: np.ndarray, magnitude_keep: np.ndarray) -> np.ndarray:
    """A float32 kernel minimising ``w^T system w - 2 rhs^T w`` per column under weight_refit."""
    with _one_blas_thread():
        return _refit_columns(system, rhs, magnitude_keep).astype(np.float32)


def _refit_columns(system: np.ndarray, rhs: np.ndarray, magnitude_keep: np.ndarray) -> np.ndarray:
    counts = magnitude_keep.sum(axis=0)
    result = np.zeros(magnitude_keep.shape)
    greedy = counts <= GREEDY_MAX_KEPT
    exact = ~greedy & (counts <= EXACT_MAX_KEPT)
    sequential = ~greedy & ~exact
    if greedy.any():
        support = _greedy_supports(system, rhs[:, greedy], counts[greedy])
        result[:, greedy] = _solve_on_supports(system, rhs[:, greedy], support)
    if exact.any():
        result[:, exact] = _solve_on_supports(system, rhs[:, exact], magnitude_keep[:, exact])
    if sequential.any():
        optimum = _cholesky_solve(system, rhs[:, sequential])
        result[:, sequential] = _sparsegpt_update(
            optimum, _inverse_cholesky_upper(system), magnitude_keep[:, sequential]
        )
    return result


def _greedy_supports(system: np.ndarray, rhs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Keep-mask choosing ``counts[j]`` rows for column ``j`` by greedy forward selection.

    Orthogonal least squares on ``f(w) = w^T A w - 2 b^T w``: with the inputs chosen so far
    ``S``, adding input ``i`` lowers the optimum of ``f`` over ``S + {i}`` by
    ``c_i^2 / s_i`` where ``c = b - A[:, S] w_S`` and ``s_i`` is the Schur complement
    ``A_ii - A_iS A_SS^-1 A_Si`` (``>= lam > 0``); the largest wins, the lower row on ties.
    ``c`` and ``s`` are updated by one Gram-Schmidt step in the ``A`` inner product per
    addition: ``O(rows * t)`` at step ``t``. Columns are handled in chunks of similar count.
    """
    rows = system.shape[0]
    keep = np.zeros((rows, len(counts)), dtype=bool)
    diagonal = np.diagonal(system)
    order = np.argsort(counts, kind="stable")
    for start in range(0, len(order), _COLUMN_CHUNK):
        columns = order[start : start + _COLUMN_CHUNK]
        wanted = counts[columns]
        steps = int(wanted.max())
        if steps == 0:
            continue
        lane = np.arange(len(columns))
        correlation = rhs[:, columns].T.copy()
        schur = np.tile(diagonal, (len(columns), 1))
        basis = np.empty((len(columns), steps, rows))
        picks = np.empty((len(columns), steps), dtype=np.int64)
        taken = np.zeros((len(columns), rows), dtype=bool)
        gain = np.empty_like(correlation)
        for step in range(steps):
            # Every lane keeps picking (steps <= rows), so no division by a zero Schur
            # complement; a lane's picks beyond its count are discarded below.
            np.square(correlation, out=gain)
            np.divide(gain, schur, out=gain, where=~taken)
            np.copyto(gain, -np.inf, where=taken)
            pick = np.argmax(gain, axis=1)
            direction = system[pick]  # rows of a symmetric matrix: its columns
            if step:
                coefficients = basis[lane, :step, pick]  # (columns, step)
                direction -= np.matmul(coefficients[:, None, :], basis[:, :step])[:, 0]
            scale = np.sqrt(schur[lane, pick])
            direction /= scale[:, None]
            correlation -= direction * (correlation[lane, pick] / scale)[:, None]
            schur -= direction * direction
            basis[:, step] = direction
            picks[:, step] = pick
            taken[lane, pick] = True
        for slot, column in enumerate(columns):
            keep[picks[slot, : wanted[slot]], column] = True
    return keep


def _solve_on_supports(system: np.ndarray, rhs: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Per column ``j``: ``w[S] = system[S, S]^-1 rhs[S, j]`` with ``S`` its kept rows, else 0.

    Columns of similar support size are solved as one batch of systems padded with identity
    rows (exactly decoupled, so the padding changes nothing).
    """
    rows, columns = keep.shape
    result = np.zeros((rows, columns))
    counts = keep.sum(axis=0)
    order = np.argsort(counts, kind="stable")
    for start in range(0, columns, _COLUMN_CHUNK):
        batch = order[start : start + _COLUMN_CHUNK]
        size = int(counts[batch].max())
        if size == 0:
            continue
        # Kept rows of each column first, in row order; then padding.
        index = np.argsort(~keep[:, batch].T, axis=1, kind="stable")[:, :size]
        valid = np.arange(size)[None, :] < counts[batch][:, None]
        index = np.where(valid, index, 0)
        both = valid[:, :, None] & valid[:, None, :]
        blocks = np.where(both, system[index[:, :, None], index[:, None, :]], 0.0)
        blocks[:, np.arange(size), np.arange(size)] += ~valid
        right = np.where(valid, rhs[index, batch[:, None]], 0.0)
        solution = np.linalg.solve(blocks, right[:, :, None])[:, :, 0]
        lanes, slots = np.nonzero(valid)
        result[index[lanes, slots], batch[lanes]] = solution[lanes, slots]
    return result


def _inverse_cholesky_upper(system: np.ndarray) -> np.ndarray:
    """Upper-triangular ``U`` with ``inv(system) = U^T U`` (SparseGPT's ``Hinv``).

    With ``P`` the reversal permutation, ``P A P = L L^T`` gives ``A = R R^T`` for the upper
    triangular ``R = P L P``, so ``inv(A) = R^-T R^-1`` and ``U = R^-1``: one Cholesky and one
    triangular inverse instead of an inverse and a second Cholesky.
    """
    lower = np.linalg.cholesky(system[::-1, ::-1])
    upper, info = scipy.linalg.lapack.dtrtri(np.ascontiguousarray(lower[::-1, ::-1]), lower=0)
    if info != 0:  # pragma: no cover - a positive definite system has a regular factor
        raise ValueError(f"triangular inverse failed (LAPACK info {info})")
    return upper


def _sparsegpt_update(weights: np.ndarray, hinv: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """SparseGPT's sequential OBS update of ``weights`` (rows = inputs) under a fixed mask.

    Rows are visited in order; the removed entries of row ``i`` are set to zero and their error
    ``e = w_i / U_ii`` is spread over the later rows as ``w_r -= U_ir * e`` -- the optimal
    correction when rows ``< i`` are frozen. Inside a block of :data:`SPARSEGPT_BLOCK` rows the
    update is immediate; the rows after the block receive it in one product (lazy batching).
    """
    weights = weights.copy()
    rows = weights.shape[0]
    for first in range(0, rows, SPARSEGPT_BLOCK):
        last = min(first + SPARSEGPT_BLOCK, rows)
        block = weights[first:last]
        block_hinv = hinv[first:last, first:last]
        errors = np.zeros_like(block)
        for offset in range(last - first):
            removed = ~keep[first + offset]
            if not removed.any():
                continue
            error = np.where(removed, block[offset], 0.0) / block_hinv[offset, offset]
            block[offset + 1 :] -= np.outer(block_hinv[offset, offset + 1 :], error)
            block[offset, removed] = 0.0
            errors[offset] = error
        if last < rows:
            weights[last:] -= hinv[first:last, last:].T @ errors
    return np.where(keep, weights, 0.0)


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


def _check_calibration(calibration: np.ndarray, features: int) -> np.ndarray:
    """The calibration inputs rounded to float32 (the network's precision), widened to float64,
    after checking shape and finiteness."""
    array = np.asarray(calibration)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != features:
        raise ValueError(
            f"calibration has shape {array.shape}: it must be (examples >= 1, {features})"
        )
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"calibration holds non-numbers ({array.dtype})")
    with np.errstate(over="ignore"):
        copy = array.astype(np.float32)
    if not np.isfinite(copy).all():
        raise ValueError("calibration holds NaN or infinity (as float32)")
    return copy.astype(np.float64)
