"""The least-squares solvers behind :mod:`prunelab.pruning.reconstruct`: pure numpy and scipy,
float64.

A refit minimises, per output column ``w`` of a kernel, ``w^T A w - 2 b^T w`` over the entries
the column keeps (the others fixed at ``0``), where ``(A, b)`` is the ridge system of
:func:`ridge_system`. Three routes by the number of weights a column keeps (see
:func:`refit_weights`): greedy forward selection of the support and an exact solve, an exact
solve on the magnitude support, or SparseGPT's sequential Optimal-Brain-Surgeon update.

Factorisations and batches of small solves run on one BLAS thread (see
:func:`one_blas_thread`), so every result has the same bits whatever the thread count.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

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


def solve_rows(
    live_in: np.ndarray,
    dense_in: np.ndarray,
    dense: np.ndarray,
    rows: np.ndarray,
    ridge: float,
) -> np.ndarray:
    """Ridge least squares for the ``rows`` of the kernel ``dense`` (all its rows), read from
    ``live_in`` (the pruned network's activations of those rows' units)."""
    return cholesky_solve(
        *ridge_system(live_in, dense_in @ dense, dense[rows], ridge, same=False)
    )


def ridge_system(
    x: np.ndarray, target: np.ndarray, prior: np.ndarray, ridge: float, *, same: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(X^T X + lam I, X^T target + lam prior)`` with ``lam = ridge * mean(diag(X^T X))``.

    With ``same``, ``target == x @ prior`` is known, so ``X^T target = (X^T X) prior`` comes
    from the Gram matrix (cheaper when ``x`` has fewer columns than ``target`` has rows).
    """
    gram = x.T @ x
    return ridge_terms(gram, gram @ prior if same else x.T @ target, prior, ridge)


def ridge_lambda(gram: np.ndarray, ridge: float) -> float:
    """``ridge * mean(diag(gram))``, or ``ridge`` when the inputs carry no energy at all."""
    energy = float(np.mean(np.diagonal(gram))) if gram.size else 0.0
    return ridge * energy if energy > 0 else ridge


def ridge_terms(
    gram: np.ndarray, cross: np.ndarray, prior: np.ndarray, ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(gram + lam I, cross + lam prior)`` as new arrays, ``lam`` from :func:`ridge_lambda`."""
    lam = ridge_lambda(gram, ridge)
    system = gram.copy()
    system[np.diag_indices_from(system)] += lam
    return system, cross + lam * prior


def cholesky_solve(system: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    with one_blas_thread():
        factor = scipy.linalg.cho_factor(system, lower=True, check_finite=False)
        return scipy.linalg.cho_solve(factor, rhs, check_finite=False)


def one_blas_thread() -> threadpool_limits:
    """Factorisations and many small products run on one BLAS thread.

    Measured on the lab's 2-vCPU machines: a 1000 x 1000 Cholesky took 0.01-0.03 s on one
    OpenBLAS thread and 0.45 s on two while another process kept a core busy; batches of small
    solves were ~20 times faster. Large products (activations, Gram matrices) keep all threads.
    """
    return threadpool_limits(limits=1, user_api="blas")


def refit_weights(system: np.ndarray, rhs: np.ndarray, magnitude_keep: np.ndarray) -> np.ndarray:
    """A float32 kernel minimising ``w^T system w - 2 rhs^T w`` per column under weight_refit.

    Column ``j`` keeps as many weights as ``magnitude_keep[:, j]`` does; at most
    :data:`GREEDY_MAX_KEPT` chosen by :func:`_greedy_supports`, at most :data:`EXACT_MAX_KEPT`
    the magnitude ones solved exactly, more the magnitude ones refit by
    :func:`_sparsegpt_update`.
    """
    with one_blas_thread():
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
        optimum = cholesky_solve(system, rhs[:, sequential])
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
