"""Which units to keep when the next kernel will be refit: greedy forward selection (numpy only).

Unit pruning with reconstruction (``"unit_refit"`` of :mod:`prunelab.pruning.reconstruct`) removes
output units of a hidden kernel and re-solves the next kernel's rows of the kept units by ridge
least squares. Keeping the units of largest weight norm (plain unit pruning's choice) ignores that
refit; this module chooses the kept set ``S`` for it. With the candidate units' activations ``A``
(calibration examples x units), the targets ``T`` (the dense network's pre-activations of the next
kernel) and the next kernel's dense rows ``P``, the refit of a set ``S`` costs

    ``f(S) = min_B ||A_S B - T||^2 + lam ||B - P_S||^2``
    ``     = ||T||^2 + lam ||P_S||^2 - tr(b_S^T H_SS^-1 b_S)``

with ``H = A^T A + lam I`` and ``b = A^T T + lam P`` (Frobenius norms; ``lam`` the ridge).
Finding the best ``S`` of a given size is a subset-selection problem; the greedy forward
selection here (orthogonal least squares with several right-hand sides, the least-squares
relative of ThiNet's greedy channel selection) adds, one unit at a time, the unit that lowers
``f`` most.
"""

from __future__ import annotations

import math

import numpy as np

from prunelab.pruning.refit import one_blas_thread, ridge_lambda, ridge_terms


def greedy_units(
    system: np.ndarray, rhs: np.ndarray, prior_cost: np.ndarray, count: int
) -> np.ndarray:
    """The indices of ``count`` units chosen by greedy forward selection, in the order picked.

    Starting from the empty set, each step adds the unit ``i`` not yet chosen that lowers
    ``f`` (module docstring) most; that decrease is ``||r_i||^2 / s_i - prior_cost[i]``, with
    ``r = b - H[:, S] H_SS^-1 b_S`` the residual correlations and ``s_i = H_ii - H_iS H_SS^-1
    H_Si`` the Schur complement (``>= lam > 0`` for a positive-definite ``H``). Ties go to the
    lower index. One Gram-Schmidt step in the ``H`` inner product per pick updates ``s`` and the
    squared norms ``||r_i||^2``; ``r`` itself is never formed, so step ``t`` costs one
    ``units x outputs`` matrix-vector product plus ``O((units + outputs) * t)``.

    Args:
        system: ``H``, symmetric positive definite ``(units, units)``.
        rhs: ``b``, ``(units, outputs)``.
        prior_cost: ``lam * ||P_i||^2`` per unit, ``(units,)`` (the ridge's pull towards the
            dense rows, paid for every unit kept).
        count: how many units to choose, ``0 <= count <= units``.

    Returns:
        ``count`` distinct indices (int64), the first pick first.
    """
    units = system.shape[0]
    if not 0 <= count <= units:
        raise ValueError(f"count is {count}: it must lie in [0, {units}]")
    schur = np.diagonal(system).copy()
    norms = np.einsum("ij,ij->i", rhs, rhs)  # ||r_i||^2 with S empty
    basis = np.empty((count, units))  # row j: H-column of pick j, H-orthonormalised
    coefficients = np.empty((count, rhs.shape[1]))  # row j: r of pick j at step j, scaled
    taken = np.zeros(units, dtype=bool)
    picks = np.empty(count, dtype=np.int64)
    for step in range(count):
        gain = np.where(taken, -np.inf, norms / np.where(taken, 1.0, schur) - prior_cost)
        pick = int(np.argmax(gain))
        scale = math.sqrt(schur[pick])
        direction = (system[pick] - basis[:step, pick] @ basis[:step]) / scale
        coefficient = (rhs[pick] - basis[:step, pick] @ coefficients[:step]) / scale
        # r_new = r - direction c^T, so ||r_i||^2 drops by d_i (2 r_i.c - d_i ||c||^2); r @ c is
        # assembled from b and the stored steps instead of from r.
        projected = rhs @ coefficient - (coefficients[:step] @ coefficient) @ basis[:step]
        norms -= direction * (2.0 * projected - direction * (coefficient @ coefficient))
        schur -= direction * direction
        basis[step] = direction
        coefficients[step] = coefficient
        picks[step] = pick
        taken[pick] = True
    return picks


def select_units(
    gram: np.ndarray, cross: np.ndarray, following: np.ndarray, count: int, ridge: float
) -> np.ndarray:
    """The ``count`` units (indices) whose refit of the next kernel reproduces its dense
    pre-activations best, by :func:`greedy_units`.

    Args:
        gram: ``A^T A`` of the candidate units' activations ``A``, ``(units, units)``.
        cross: ``A^T T`` with ``T`` the dense pre-activations of the next kernel.
        following: the next kernel's dense rows ``P``, ``(units, outputs)``.
        count: how many units to keep.
        ridge: the relative ridge strength (``lam = ridge * mean(diag(gram))``).
    """
    system, rhs = ridge_terms(gram, cross, following, ridge)
    prior_cost = ridge_lambda(gram, ridge) * np.einsum("ij,ij->i", following, following)
    with one_blas_thread():
        return greedy_units(system, rhs, prior_cost, count)
