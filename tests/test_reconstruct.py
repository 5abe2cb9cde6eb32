"""Unit and property tests of the pure numpy reconstruction core (prunelab.pruning.reconstruct, and
its
calibration set and solvers: prunelab.data.calibration, prunelab.pruning.refit)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prunelab.data.calibration import calibration_indices
from prunelab.data.datasets import Split
from prunelab.model.training import split_validation
from prunelab.pruning import refit as solvers
from prunelab.pruning.masks import count_to_prune, weight_mask
from prunelab.pruning.reconstruct import reconstruct_network, wanda_mask

METHODS = ("weight_refit", "unit_refit", "wanda")
FAST = settings(max_examples=40, deadline=None)


def network(sizes: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    """Random float32 kernels with no zero entry, scaled like a trained ReLU network's."""
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
        for a, b in itertools.pairwise(sizes)
    ]


def random_networks(lowest_k: int):
    """Hypothesis: a chain of 1-4 small kernels (``sizes``), a k from ``lowest_k`` to 99, a
    seed for the weights and calibration images, and whether the logits are refitted."""
    return given(sizes=st.lists(st.integers(1, 9), min_size=2, max_size=5).map(tuple),
                 k=st.integers(lowest_k, 99), seed=st.integers(0, 1000), refit=st.booleans())


def images(count: int, features: int, seed: int = 1) -> np.ndarray:
    """Non-negative inputs with correlated features, like pixels: a few blobs plus noise."""
    rng = np.random.default_rng(seed)
    mixing = np.abs(rng.standard_normal((4, features)))
    return np.maximum(
        rng.standard_normal((count, 4)) @ mixing + 0.3 * rng.standard_normal((count, features)), 0.0
    ).astype(np.float32)


def activations(kernels: list[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """Inputs of every kernel in float64, as the module computes them: x (rounded to float32),
    then ReLU of each hidden pre-activation."""
    result = [np.asarray(x, np.float32).astype(np.float64)]
    for kernel in kernels[:-1]:
        result.append(np.maximum(result[-1] @ np.asarray(kernel, np.float64), 0.0))
    return result


SIZES = (24, 20, 16, 12, 4)  # a small network shaped like the lab's: shrinking, 4 logits
KERNELS = network(SIZES)
CALIBRATION = images(200, SIZES[0])


# --- calibration_indices -----------------------------------------------------------------------


@FAST
@given(
    examples=st.integers(2, 400),
    fraction=st.floats(0.01, 0.9),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_calibration_draws_only_fit_examples_as_split_validation_defines_them(
    examples, fraction, seed, data
):
    held = max(1, round(fraction * examples))
    if held >= examples:
        with pytest.raises(ValueError, match="no fit example"):
            calibration_indices(examples, fraction, seed, 1)
        return
    size = data.draw(st.integers(1, examples - held))
    # Images that are their own index show which examples split_validation puts where.
    train = Split(np.arange(examples)[:, None], np.arange(examples))
    fit, validation = split_validation(train, fraction, seed)
    drawn = calibration_indices(examples, fraction, seed, size)
    assert drawn.dtype == np.int64 and len(drawn) == size
    assert np.all(np.diff(drawn) > 0)  # sorted, no repeats
    assert set(drawn) <= set(fit.labels)
    assert not set(drawn) & set(validation.labels)
    assert np.array_equal(drawn, calibration_indices(examples, fraction, seed, size))


def test_calibration_is_seeded_nested_and_spans_the_fit_part():
    first = calibration_indices(60000, 0.1, 0, 4096)
    assert np.array_equal(first, calibration_indices(60000, 0.1, 0, 4096))
    assert not np.array_equal(first, calibration_indices(60000, 0.1, 1, 4096))
    assert set(calibration_indices(60000, 0.1, 0, 2048)) <= set(first)
    everything = calibration_indices(100, 0.1, 3, 90)  # the whole fit part
    train = Split(np.arange(100)[:, None], np.arange(100))
    assert np.array_equal(everything, np.sort(split_validation(train, 0.1, 3)[0].labels))


@pytest.mark.parametrize(
    "arguments",
    [
        (100, 0.1, 0, 0),  # empty draw
        (100, 0.1, 0, 91),  # more than the 90 fit examples
        (100, 0.0, 0, 10),
        (100, 1.0, 0, 10),
        (100, 0.1, -1, 10),
        (100, 0.1, 0, 10.0),
        (100, 0.1, True, 10),
        (100.0, 0.1, 0, 10),
        (1, 0.5, 0, 1),  # the single example is the validation part
    ],
)
def test_calibration_rejects_bad_arguments(arguments):
    with pytest.raises(ValueError):
        calibration_indices(*arguments)


# --- wanda_mask ----------------------------------------------------------------------------------


def reference_wanda(matrix: np.ndarray, norms: np.ndarray, k: int) -> np.ndarray:
    """The documented rule, written out with Python sorts."""
    rows, columns = matrix.shape
    total = count_to_prune(matrix.size, k)
    per_column, extra = divmod(total, columns)
    score = np.abs(matrix.astype(np.float64)) * norms.astype(np.float64)[:, None]
    ranked = [sorted(range(rows), key=lambda i: (score[i, j], i)) for j in range(columns)]
    keep = np.ones(matrix.shape, dtype=bool)
    for j in range(columns):
        keep[ranked[j][:per_column], j] = False
    if extra:
        order = sorted(range(columns), key=lambda j: (score[ranked[j][per_column], j], j))
        for j in order[:extra]:
            keep[ranked[j][per_column], j] = False
    return keep


@FAST
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    k=st.integers(0, 99),
    seed=st.integers(0, 1000),
)
def test_wanda_mask_follows_the_per_column_rule_with_the_exact_total(shape, k, seed):
    rng = np.random.default_rng(seed)
    # Few distinct values, so ties in scores (within and across columns) are frequent.
    matrix = rng.integers(-3, 4, size=shape).astype(np.float32)
    norms = rng.integers(0, 3, size=shape[0]).astype(np.float64)
    keep = wanda_mask(matrix, norms, k)
    total = count_to_prune(matrix.size, k)
    assert np.count_nonzero(~keep) == total
    per_column = (~keep).sum(axis=0)
    assert set(per_column) <= {total // shape[1], total // shape[1] + 1}
    assert np.array_equal(keep, reference_wanda(matrix, norms, k))


def test_wanda_mask_removes_k_percent_of_every_column_when_columns_divide_the_total():
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((20, 7))
    norms = rng.random(20)
    keep = wanda_mask(matrix, norms, 35)  # 35 * 20 / 100 = 7 per column
    assert np.array_equal((~keep).sum(axis=0), np.full(7, 7))
    score = np.abs(matrix) * norms[:, None]
    for j in range(7):
        assert score[~keep[:, j], j].max() < score[keep[:, j], j].min()


def test_wanda_mask_weighs_by_input_norm_and_breaks_ties_by_position():
    matrix = np.ones((4, 3))
    # Row 2 carries no signal: it goes first although its weights are as large as the others.
    keep = wanda_mask(matrix, np.array([1.0, 1.0, 0.0, 1.0]), 34)  # total round(4.08) = 4
    # One per column (row 2), then the extra removal goes to column 0, its next row being row 0.
    assert np.array_equal(~keep, [[1, 0, 0], [0, 0, 0], [1, 1, 1], [0, 0, 0]])
    # All scores equal: lower rows first in every column.
    assert np.array_equal(
        ~wanda_mask(np.ones((4, 2)), np.ones(4), 50), [[1, 1], [1, 1], [0, 0], [0, 0]]
    )


@pytest.mark.parametrize(
    "matrix, norms, k",
    [
        (np.ones(4), np.ones(4), 10),
        (np.ones((4, 2)), np.ones(3), 10),
        (np.ones((4, 2)), -np.ones(4), 10),
        (np.full((4, 2), np.nan), np.ones(4), 10),
        (np.ones((4, 2)), np.ones(4), 100),
    ],
)
def test_wanda_mask_rejects_bad_input(matrix, norms, k):
    with pytest.raises(ValueError):
        wanda_mask(matrix, norms, k)


# --- reconstruct_network: contract ---------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_k0_returns_bit_identical_new_copies(method):
    result = reconstruct_network(KERNELS, method, 0, CALIBRATION)
    for before, after in zip(KERNELS, result, strict=True):
        assert after.dtype == np.float32 and after is not before
        assert after.tobytes() == before.tobytes()


@pytest.mark.parametrize(
    "method, refit", [(m, False) for m in METHODS] + [("weight_refit", True), ("unit_refit", True)]
)
@pytest.mark.parametrize("k", [30, 90])
def test_same_inputs_give_the_same_bits_and_inputs_stay_untouched(method, refit, k):
    kernels = [kernel.copy() for kernel in KERNELS]
    calibration = CALIBRATION.copy()
    first = reconstruct_network(kernels, method, k, calibration, refit_logits=refit)
    second = reconstruct_network(kernels, method, k, calibration, refit_logits=refit)
    assert [a.tobytes() for a in first] == [b.tobytes() for b in second]
    assert all(
        a.dtype == np.float32 and a.shape == b.shape
        for a, b in zip(first, KERNELS, strict=True)
    )
    assert all(np.array_equal(a, b) for a, b in zip(kernels, KERNELS, strict=True))
    assert np.array_equal(calibration, CALIBRATION)


ROUTES = {  # (GREEDY_MAX_KEPT, EXACT_MAX_KEPT): which route the small networks' columns take
    "greedy": (solvers.GREEDY_MAX_KEPT, solvers.EXACT_MAX_KEPT),  # all (<= 24 inputs)
    "exact": (0, 1000),
    "sparsegpt": (0, 0),
    "mixed": (3, 6),
}


@pytest.fixture(params=list(ROUTES))
def route(request, monkeypatch):
    """Run a test with every column of weight_refit on one route, or on all three."""
    greedy, exact = ROUTES[request.param]
    monkeypatch.setattr(solvers, "GREEDY_MAX_KEPT", greedy)
    monkeypatch.setattr(solvers, "EXACT_MAX_KEPT", exact)
    return request.param


def assert_magnitude_counts_per_column(kernels, result, k):
    """weight_refit's count rule: exactly the magnitude mask's zeros per hidden matrix, shared
    among the columns as the magnitude mask shares them; the logits kernel loses nothing."""
    for kernel, pruned in zip(kernels[:-1], result[:-1], strict=True):
        assert np.count_nonzero(pruned == 0) == count_to_prune(kernel.size, k)
        assert np.array_equal((pruned != 0).sum(axis=0), weight_mask(kernel, k).sum(axis=0))
    assert np.all(result[-1] != 0)


@FAST
@random_networks(lowest_k=0)
def test_weight_refit_removes_exactly_the_magnitude_counts_per_column(sizes, k, seed, refit):
    kernels = network(sizes, seed)
    calibration = images(30, sizes[0], seed)
    result = reconstruct_network(kernels, "weight_refit", k, calibration, refit_logits=refit)
    assert_magnitude_counts_per_column(kernels, result, k)
    if not refit:
        assert result[-1].tobytes() == kernels[-1].tobytes()


def test_weight_refit_counts_on_every_route(route):
    for k in (25, 60, 95):
        result = reconstruct_network(KERNELS, "weight_refit", k, CALIBRATION, refit_logits=True)
        assert_magnitude_counts_per_column(KERNELS, result, k)


@pytest.mark.parametrize("route", ["exact", "sparsegpt"], indirect=True)
def test_weight_refit_wider_columns_keep_the_magnitude_mask(route):
    result = reconstruct_network(KERNELS, "weight_refit", 60, CALIBRATION)
    for kernel, pruned in zip(KERNELS[:-1], result[:-1], strict=True):
        assert np.array_equal(pruned != 0, weight_mask(kernel, 60))


def test_weight_refit_greedy_columns_choose_other_weights_than_magnitude():
    result = reconstruct_network(KERNELS, "weight_refit", 60, CALIBRATION)  # all greedy
    assert any(
        not np.array_equal(pruned != 0, weight_mask(kernel, 60))
        for kernel, pruned in zip(KERNELS[:-1], result[:-1], strict=True)
    )


@FAST
@random_networks(lowest_k=1)
def test_unit_refit_removes_exact_unit_counts_with_their_next_rows(sizes, k, seed, refit):
    kernels = network(sizes, seed)
    result = reconstruct_network(
        kernels, "unit_refit", k, images(30, sizes[0], seed), refit_logits=refit
    )
    rows = np.ones(sizes[0], dtype=bool)  # network inputs are never removed
    for kernel, pruned in zip(kernels[:-1], result[:-1], strict=True):
        columns = np.any(pruned != 0, axis=0)  # a kept column's refit weights are nonzero
        if not rows.any():  # every unit before was removed: which units this layer keeps (and
            # so which rows of the next kernel are refit) cannot be seen from the weights
            assert not pruned.any()
            return
        assert np.count_nonzero(~columns) == count_to_prune(kernel.shape[1], k)
        assert np.array_equal(pruned != 0, rows[:, None] & columns[None, :])
        rows = columns
    logits, dense_logits = result[-1], kernels[-1]
    assert np.all(logits != 0)
    if refit:  # rows of pruned units keep their dense values (rows of kept units are refit:
        # test_unit_refit_beats_zeroing_the_rows_at_every_refit_kernel)
        assert logits[~rows].tobytes() == dense_logits[~rows].tobytes()
    else:
        assert logits.tobytes() == dense_logits.tobytes()


def test_unit_refit_keeps_the_first_layers_columns_at_their_dense_values():
    result = reconstruct_network(KERNELS, "unit_refit", 60, CALIBRATION)
    kept = np.any(result[0] != 0, axis=0)
    assert result[0][:, kept].tobytes() == KERNELS[0][:, kept].astype(np.float32).tobytes()


def test_wanda_prunes_with_the_pruned_networks_input_norms_and_keeps_weights():
    k = 70
    result = reconstruct_network(KERNELS, "wanda", k, CALIBRATION)
    inputs = activations(result, CALIBRATION)
    for layer, (kernel, pruned) in enumerate(zip(KERNELS[:-1], result[:-1], strict=True)):
        norms = np.sqrt(np.einsum("ij,ij->j", inputs[layer], inputs[layer]))
        keep = wanda_mask(kernel, norms, k)
        assert np.array_equal(pruned != 0, keep)
        assert np.array_equal(pruned[keep], kernel[keep])
    assert result[-1].tobytes() == KERNELS[-1].tobytes()


# --- reconstruct_network: the refits reconstruct --------------------------------------------------


def layer_errors(kernels, dense, calibration):
    """Per kernel: squared error of its outputs on the pruned network's inputs vs the dense
    network's pre-activations, for the kernel as given."""
    pruned_in = activations(kernels, calibration)
    dense_in = activations(dense, calibration)
    return (
        [
            float(np.sum((p @ np.asarray(w, np.float64) - d @ np.asarray(w0, np.float64)) ** 2))
            for p, d, w, w0 in zip(pruned_in, dense_in, kernels, dense, strict=True)
        ],
        pruned_in,
        dense_in,
    )


@pytest.mark.parametrize("k", [50, 80, 95])
def test_weight_refit_beats_plain_magnitude_masking_at_every_layer(k, route):
    result = reconstruct_network(KERNELS, "weight_refit", k, CALIBRATION, refit_logits=True)
    refit_errors, pruned_in, dense_in = layer_errors(result, KERNELS, CALIBRATION)
    for layer, kernel in enumerate(KERNELS):
        # Plain masking of the same layer, fed the same (pruned network's) inputs.
        masked = (
            np.where(weight_mask(kernel, k), kernel, 0.0) if layer < len(KERNELS) - 1 else kernel
        )
        target = dense_in[layer] @ kernel.astype(np.float64)
        output = pruned_in[layer] @ masked.astype(np.float64)
        masked_error = float(np.sum((output - target) ** 2))
        if np.any(output != 0):
            assert refit_errors[layer] < masked_error, (layer, refit_errors[layer], masked_error)
        else:  # at 95% a layer's magnitude weights may read only dead units
            assert refit_errors[layer] <= masked_error


@pytest.mark.parametrize("k", [30, 60, 85])
def test_unit_refit_beats_zeroing_the_rows_at_every_refit_kernel(k):
    result = reconstruct_network(KERNELS, "unit_refit", k, CALIBRATION, refit_logits=True)
    refit_errors, pruned_in, dense_in = layer_errors(result, KERNELS, CALIBRATION)
    for layer in range(1, len(KERNELS)):
        # The alternative: the dense kernel with the pruned units' rows and columns zeroed.
        plain = (
            np.where(result[layer] != 0, KERNELS[layer], 0.0)
            if layer < len(KERNELS) - 1
            else KERNELS[layer]
        )
        target = dense_in[layer] @ KERNELS[layer].astype(np.float64)
        plain_error = float(np.sum((pruned_in[layer] @ plain.astype(np.float64) - target) ** 2))
        assert refit_errors[layer] < plain_error, (layer, refit_errors[layer], plain_error)


@pytest.mark.parametrize("route", ["greedy", "exact"], indirect=True)
def test_weight_refit_solves_the_ridge_least_squares_on_each_kept_support(route):
    ridge, k = 0.01, 80
    result = reconstruct_network(KERNELS, "weight_refit", k, CALIBRATION, ridge=ridge)
    _, pruned_in, dense_in = layer_errors(result, KERNELS, CALIBRATION)
    for layer in range(len(KERNELS) - 1):
        x, w0 = pruned_in[layer], KERNELS[layer].astype(np.float64)
        w = result[layer].astype(np.float64)
        lam = ridge * np.mean(np.sum(x * x, axis=0))
        # Gradient of ||x w - x_dense w0||^2 + lam ||w - w0||^2: zero on the kept entries.
        gradient = x.T @ (x @ w - dense_in[layer] @ w0) + lam * (w - w0)
        masked_gradient = x.T @ (x @ np.where(w != 0, w0, 0) - dense_in[layer] @ w0)
        scale = np.abs(masked_gradient[w != 0]).max()
        assert np.abs(gradient[w != 0]).max() < 1e-4 * scale


def test_greedy_supports_match_brute_force_forward_selection():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 10)) @ rng.standard_normal((10, 10))
    system = x.T @ x + 0.5 * np.eye(10)
    rhs = rng.standard_normal((10, 6))
    counts = np.array([0, 1, 3, 5, 9, 10])
    keep = solvers._greedy_supports(system, rhs, counts)
    for j, count in enumerate(counts):
        chosen: list[int] = []
        for _ in range(count):  # add the row whose exact re-solve lowers the objective most
            best, best_value = -1, np.inf
            for i in range(10):
                if i in chosen:
                    continue
                s = chosen + [i]
                w = np.linalg.solve(system[np.ix_(s, s)], rhs[s, j])
                value = -rhs[s, j] @ w  # min of w^T A w - 2 b^T w over the support
                if value < best_value - 1e-12:
                    best, best_value = i, value
            chosen.append(best)
        assert set(np.flatnonzero(keep[:, j])) == set(chosen)


def test_sparsegpt_update_matches_sequential_optimal_brain_surgeon():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((50, 8))
    system = x.T @ x + 0.1 * np.eye(8)
    weights = rng.standard_normal((8, 3))
    keep = rng.random((8, 3)) < 0.5
    result = solvers._sparsegpt_update(weights, solvers._inverse_cholesky_upper(system), keep)
    expected = weights.copy()
    for i in range(8):  # remove row i's pruned entries, re-optimising rows i+1.. only
        later = np.arange(i + 1, 8)
        for j in np.flatnonzero(~keep[i]):
            # Minimise (w - v)^T A (w - v) over the later rows with w_i = 0, the earlier fixed.
            delta = expected[i, j] * np.linalg.solve(system[np.ix_(later, later)], system[later, i])
            expected[later, j] += delta
            expected[i, j] = 0.0
    assert np.allclose(result, np.where(keep, expected, 0.0), atol=1e-10)


# --- reconstruct_network: errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(method="obs"), "unknown reconstruction method"),
        (dict(k=100), "k is 100"),
        (dict(k=-1), "k is -1"),
        (dict(k=50.0), "must be an integer"),
        (dict(k=True), "must be an integer"),
        (dict(kernels=[]), "at least one kernel"),
        (dict(kernels=[np.ones((24, 5)), np.ones((4, 2))]), "do not chain"),
        (dict(kernels=[np.ones(24)]), "must be 2-D"),
        (dict(kernels=[np.full((24, 4), np.nan)]), "NaN"),
        (dict(calibration=np.ones((10, 23))), "calibration has shape"),
        (dict(calibration=np.ones((0, 24))), "calibration has shape"),
        (dict(calibration=np.full((10, 24), np.inf)), "calibration holds"),
        (dict(calibration=np.full((10, 24), 1e300)), "calibration holds"),
        (dict(kernels=[np.full((24, 4), 1e300)]), "infinity"),
        (dict(ridge=0.0), "ridge"),
        (dict(ridge=float("nan")), "ridge"),
        (dict(ridge=-1.0), "ridge"),
        (dict(refit_logits=1), "refit_logits"),
        (dict(method="wanda", refit_logits=True), "wanda never updates"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(change, message):
    arguments = dict(kernels=KERNELS, method="weight_refit", k=50, calibration=CALIBRATION)
    arguments.update(change)
    keywords = {key: arguments.pop(key) for key in ("ridge", "refit_logits") if key in arguments}
    with pytest.raises(ValueError, match=message):
        reconstruct_network(
            arguments["kernels"],
            arguments["method"],
            arguments["k"],
            arguments["calibration"],
            **keywords,
        )
