"""Greedy forward selection of units: each pick is the one that lowers the refit objective most."""

from __future__ import annotations

import numpy as np
import pytest

from prunelab.pruning.unit_selection import greedy_units


def problem(units: int, outputs: int, seed: int) -> tuple[np.ndarray, ...]:
    """Activations with correlated units, targets, dense rows and the ridge, as in the refit."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((units, units))
    activations = np.maximum(rng.standard_normal((50, units)) @ mixing, 0)
    targets = rng.standard_normal((50, outputs))
    prior = rng.standard_normal((units, outputs))
    return activations, targets, prior, 0.3


def objective(chosen: list[int], activations, targets, prior, lam) -> float:
    """f(S) = min_B ||A_S B - T||^2 + lam ||B - P_S||^2, solved directly."""
    a = activations[:, chosen]
    b = np.linalg.solve(a.T @ a + lam * np.eye(len(chosen)), a.T @ targets + lam * prior[chosen])
    return float(np.sum((a @ b - targets) ** 2) + lam * np.sum((b - prior[chosen]) ** 2))


def select(activations, targets, prior, lam, count) -> np.ndarray:
    system = activations.T @ activations + lam * np.eye(activations.shape[1])
    rhs = activations.T @ targets + lam * prior
    return greedy_units(system, rhs, lam * np.sum(prior**2, axis=1), count)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_pick_lowers_the_refit_objective_most(seed):
    activations, targets, prior, lam = problem(12, 5, seed)
    picks = select(activations, targets, prior, lam, 12)
    assert sorted(picks) == list(range(12))
    chosen: list[int] = []
    for pick in picks:  # brute force: re-solve the refit for every candidate
        values = {
            i: objective(chosen + [i], activations, targets, prior, lam)
            for i in range(12)
            if i not in chosen
        }
        best = min(values.values())
        assert values[pick] == pytest.approx(best, rel=1e-9, abs=1e-9), (chosen, pick)
        chosen.append(int(pick))


def test_the_first_pick_is_the_best_single_unit_not_the_largest_norm():
    # Unit 0 is large but only repeats unit 1's signal; unit 2 alone explains the target.
    rng = np.random.default_rng(3)
    signal, other = rng.standard_normal((2, 40))
    activations = np.stack([10 * other, other, signal], axis=1)
    targets = (signal + 0.01 * rng.standard_normal(40))[:, None]
    prior = np.zeros((3, 1))
    assert select(activations, targets, prior, 1e-3, 1)[0] == 2


def test_ties_go_to_the_lower_index_and_counts_are_exact():
    activations = np.tile(np.arange(1.0, 31.0)[:, None], (1, 4))  # four identical units
    targets = activations[:, :1] * 2.0
    prior = np.ones((4, 1))
    for count in range(5):
        picks = select(activations, targets, prior, 0.1, count)
        assert len(picks) == len(set(picks.tolist())) == count
    assert select(activations, targets, prior, 0.1, 1).tolist() == [0]


def test_count_out_of_range_is_rejected():
    activations, targets, prior, lam = problem(4, 2, 0)
    with pytest.raises(ValueError, match=r"count is 5: it must lie in \[0, 4\]"):
        select(activations, targets, prior, lam, 5)
