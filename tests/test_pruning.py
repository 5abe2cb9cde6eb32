"""Unit and property tests of the pure numpy pruning core."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from shapes import HIDDEN_SHAPES, he_kernels, kernel_shapes

from prunelab.pruning.masks import (
    count_to_prune,
    global_masks,
    network_masks,
    prune_matrix,
    prune_network,
    random_mask,
    unit_mask,
    weight_mask,
)

METHODS = ("weight", "unit")
ks = st.integers(min_value=0, max_value=99)
shapes = st.tuples(st.integers(1, 12), st.integers(1, 12))
# Small integer-valued floats make ties frequent, which is where tie-breaking bugs hide.
elements = st.one_of(
    st.integers(-4, 4).map(float),
    st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=32),
)
matrices = shapes.flatmap(lambda shape: arrays(np.float32, shape, elements=elements))
# Multiples of 1/64 in [-10, 10]: their squared column sums are exact in float64 whatever the
# summation order, so the tests' own norms rank columns exactly as the implementation's do.
exact_matrices = shapes.flatmap(
    lambda shape: arrays(np.float32, shape, elements=st.integers(-640, 640).map(lambda i: i / 64))
)
FAST = settings(max_examples=75, deadline=None)


def exact_round(n: int, k: int) -> int:
    """round(k*n/100) on exact rationals; Fraction.__round__ rounds halves to even."""
    return round(Fraction(k * n, 100))


# ---- count_to_prune ----------------------------------------------------------------------


@pytest.mark.parametrize("k", range(100))
def test_count_matches_exact_rounding_for_every_k(k: int) -> None:
    real = [shape for hidden in HIDDEN_SHAPES.values() for shape in kernel_shapes(hidden)]
    sizes = list(range(0, 201)) + [size for shape in real for size in shape]
    sizes += [rows * cols for rows, cols in real]
    for n in sizes:
        assert count_to_prune(n, k) == exact_round(n, k), (n, k)


@given(n=st.integers(0, 10**18), k=ks)
@FAST
def test_count_matches_exact_rounding_property(n: int, k: int) -> None:
    count = count_to_prune(n, k)
    assert count == exact_round(n, k)
    assert 0 <= count <= n


def test_count_avoids_float_drift() -> None:
    assert 0.29 * 784000 != 227360  # the float trap this function exists to avoid
    assert count_to_prune(784000, 29) == 227360
    assert 7 / 100 * 150 == 10.500000000000002  # k/100*n drifts past the half...
    assert count_to_prune(150, 7) == 10  # ...but 10.5 exactly rounds to even
    # Beyond 2**53 even k*n/100 in float is off; integer arithmetic is not.
    assert count_to_prune(657247381085762037, 97) == 637529959653189176


@pytest.mark.parametrize(
    ("n", "k", "expected"),
    [
        (2, 25, 0),  # 0.5 -> 0 (even)
        (6, 25, 2),  # 1.5 -> 2 (even)
        (10, 25, 2),  # 2.5 -> 2 (even)
        (14, 25, 4),  # 3.5 -> 4 (even)
        (1, 50, 0),  # 0.5 -> 0
        (3, 50, 2),  # 1.5 -> 2
        (1, 51, 1),  # 0.51 -> 1
        (1, 49, 0),  # 0.49 -> 0
        (10, 99, 10),  # 9.9 -> 10: all of a tiny matrix
        (0, 50, 0),
        (7, 0, 0),
    ],
)
def test_count_rounds_halves_to_even(n: int, k: int, expected: int) -> None:
    assert count_to_prune(n, k) == expected
    assert count_to_prune(n, k) == round(k * n / 100)  # these products are exact in float


@pytest.mark.parametrize("k", [-1, 100, 150])
def test_count_rejects_k_out_of_range(k: int) -> None:
    with pytest.raises(ValueError, match=rf"k is {k}.*\[0, 100\)"):
        count_to_prune(10, k)


@pytest.mark.parametrize("k", [50.0, 0.5, True, "50"])
def test_count_rejects_non_integer_k(k: object) -> None:
    with pytest.raises(ValueError, match="must be an integer"):
        count_to_prune(10, k)  # type: ignore[arg-type]


def test_count_rejects_negative_n() -> None:
    with pytest.raises(ValueError, match="n is -1"):
        count_to_prune(-1, 10)


def test_count_accepts_numpy_integers() -> None:
    assert count_to_prune(np.int64(784000), np.int32(29)) == 227360


# ---- weight_mask -------------------------------------------------------------------------


@given(matrix=matrices, k=ks)
@FAST
def test_weight_mask_removes_exactly_the_smallest(matrix: np.ndarray, k: int) -> None:
    keep = weight_mask(matrix, k)
    assert keep.shape == matrix.shape and keep.dtype == np.bool_
    assert np.count_nonzero(~keep) == count_to_prune(matrix.size, k)
    removed, kept = np.abs(matrix[~keep]), np.abs(matrix[keep])
    if removed.size and kept.size:
        assert removed.max() <= kept.min()


@given(matrix=matrices, k=ks)
@FAST
def test_weight_mask_equals_stable_argsort_reference(matrix: np.ndarray, k: int) -> None:
    order = np.argsort(np.abs(matrix).ravel(), kind="stable")
    expected = np.ones(matrix.size, dtype=bool)
    expected[order[: count_to_prune(matrix.size, k)]] = False
    np.testing.assert_array_equal(weight_mask(matrix, k), expected.reshape(matrix.shape))


@given(matrix=matrices, k=ks)
@FAST
def test_weight_mask_ties_remove_lower_flat_index_first(matrix: np.ndarray, k: int) -> None:
    keep = weight_mask(matrix, k).ravel()
    magnitude = np.abs(matrix).ravel()
    # Within any magnitude group, no kept entry may precede a removed one.
    for value in np.unique(magnitude):
        group = keep[magnitude == value]
        assert np.all(np.diff(group.astype(int)) >= 0), value


@pytest.mark.parametrize("k", [0, 1, 25, 50, 99])
def test_weight_mask_all_equal_removes_first_flat_entries(k: int) -> None:
    matrix = np.full((7, 13), -0.5, dtype=np.float32)
    count = count_to_prune(matrix.size, k)
    expected = np.arange(matrix.size).reshape(matrix.shape) >= count
    np.testing.assert_array_equal(weight_mask(matrix, k), expected)


def test_weight_mask_known_example() -> None:
    matrix = np.array([[3.0, -1.0, 2.0], [-1.0, 0.0, -5.0]], dtype=np.float32)
    # 50% of 6 = 3 removed: 0.0 (index 4), then the tie -1.0 at index 1 before index 3.
    expected = np.array([[True, False, True], [False, False, True]])
    np.testing.assert_array_equal(weight_mask(matrix, 50), expected)
    # 34% of 6 = 2.04 -> 2: only the first of the tied -1.0 entries goes.
    expected = np.array([[True, False, True], [True, False, True]])
    np.testing.assert_array_equal(weight_mask(matrix, 34), expected)


# ---- unit_mask ---------------------------------------------------------------------------


@given(matrix=exact_matrices, k=ks)
@FAST
def test_unit_mask_removes_whole_weakest_columns(matrix: np.ndarray, k: int) -> None:
    keep = unit_mask(matrix, k)
    assert keep.shape == matrix.shape and keep.dtype == np.bool_
    columns = keep[0]
    assert np.all(keep == columns), "a column must be kept or removed as a whole"
    assert np.count_nonzero(~columns) == count_to_prune(matrix.shape[1], k)
    norms = np.sqrt((matrix.astype(np.float64) ** 2).sum(axis=0))
    if (~columns).any() and columns.any():
        assert norms[~columns].max() <= norms[columns].min()


@given(matrix=exact_matrices, k=ks)
@FAST
def test_unit_mask_ties_remove_lower_column_first(matrix: np.ndarray, k: int) -> None:
    matrix = np.concatenate([matrix, matrix], axis=1)  # every norm appears at least twice
    columns = unit_mask(matrix, k)[0]
    norms = (matrix.astype(np.float64) ** 2).sum(axis=0)
    for value in np.unique(norms):
        group = columns[norms == value]
        assert np.all(np.diff(group.astype(int)) >= 0), value


@pytest.mark.parametrize("k", [0, 1, 25, 50, 99])
def test_unit_mask_all_equal_removes_first_columns(k: int) -> None:
    matrix = np.full((5, 30), 2.0, dtype=np.float32)
    count = count_to_prune(30, k)
    expected = np.broadcast_to(np.arange(30) >= count, matrix.shape)
    np.testing.assert_array_equal(unit_mask(matrix, k), expected)


def test_unit_mask_known_example() -> None:
    # Column norms: 5, 1, 5, 0 -> 50% of 4 = 2 removed: column 3, then column 1.
    matrix = np.array([[3.0, 1.0, -4.0, 0.0], [4.0, 0.0, 3.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(unit_mask(matrix, 50)[0], [True, False, True, False])
    # 75% -> 3 removed: the tie between columns 0 and 2 (norm 5) removes column 0.
    np.testing.assert_array_equal(unit_mask(matrix, 75)[0], [False, False, True, False])


@pytest.mark.parametrize("mask", [weight_mask, unit_mask])
def test_masks_reject_nan(mask) -> None:
    matrix = np.ones((3, 4), dtype=np.float32)
    matrix[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mask(matrix, 50)


def test_weight_mask_handles_infinities() -> None:
    matrix = np.array([[np.inf, -np.inf, 1.0, -2.0]], dtype=np.float32)
    np.testing.assert_array_equal(weight_mask(matrix, 75), [[False, True, False, False]])


def test_unit_mask_needs_a_matrix() -> None:
    with pytest.raises(ValueError, match="2-D"):
        unit_mask(np.ones(5, dtype=np.float32), 50)


# ---- prune_matrix ------------------------------------------------------------------------


@given(matrix=matrices, k1=ks, k2=ks, method=st.sampled_from(METHODS))
@FAST
def test_masks_are_nested(matrix: np.ndarray, k1: int, k2: int, method: str) -> None:
    k1, k2 = sorted((k1, k2))
    mask = weight_mask if method == "weight" else unit_mask
    removed_small, removed_large = ~mask(matrix, k1), ~mask(matrix, k2)
    assert not np.any(removed_small & ~removed_large)


@given(matrix=matrices, k=ks, method=st.sampled_from(METHODS))
@FAST
def test_prune_matrix_zeroes_exactly_the_mask(matrix: np.ndarray, k: int, method: str) -> None:
    original = matrix.copy()
    pruned = prune_matrix(matrix, method, k)
    keep = weight_mask(matrix, k) if method == "weight" else unit_mask(matrix, k)
    assert pruned.dtype == np.float32 and pruned is not matrix
    np.testing.assert_array_equal(pruned[keep], matrix[keep])
    assert np.all(pruned[~keep] == 0.0)
    np.testing.assert_array_equal(matrix, original)  # the input is not modified


@given(matrix=matrices, k=ks, method=st.sampled_from(METHODS))
@FAST
def test_prune_matrix_is_idempotent(matrix: np.ndarray, k: int, method: str) -> None:
    once = prune_matrix(matrix, method, k)
    twice = prune_matrix(once, method, k)
    assert once.tobytes() == twice.tobytes()


@given(matrix=matrices, method=st.sampled_from(METHODS))
@FAST
def test_prune_matrix_k0_is_identity(matrix: np.ndarray, method: str) -> None:
    assert prune_matrix(matrix, method, 0).tobytes() == matrix.tobytes()


def test_prune_matrix_casts_to_float32() -> None:
    matrix = np.arange(12, dtype=np.float64).reshape(3, 4)
    pruned = prune_matrix(matrix, "weight", 25)
    assert pruned.dtype == np.float32
    np.testing.assert_array_equal(pruned, np.where(matrix < 3, 0, matrix).astype(np.float32))


@pytest.mark.parametrize("method", ["weights", "units", "", "Weight", None])
def test_prune_matrix_rejects_unknown_method(method: object) -> None:
    with pytest.raises(ValueError, match="takes 'weight' or 'unit'"):
        prune_matrix(np.ones((2, 2), dtype=np.float32), method, 50)  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [-1, 100, 150])
@pytest.mark.parametrize("method", METHODS)
def test_prune_matrix_rejects_bad_k(method: str, k: int) -> None:
    with pytest.raises(ValueError, match=rf"k is {k}"):
        prune_matrix(np.ones((2, 2), dtype=np.float32), method, k)


# ---- prune_network -----------------------------------------------------------------------


def network(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = [(12, 10), (10, 9), (9, 7), (7, 5), (5, 3)]
    return [rng.standard_normal(shape).astype(np.float32) for shape in shapes]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k", [0, 25, 50, 90, 99])
def test_prune_network_layerwise_and_logits_untouched(method: str, k: int) -> None:
    kernels = network()
    before = [kernel.copy() for kernel in kernels]
    pruned = prune_network(kernels, method, k)
    assert len(pruned) == len(kernels)
    for kernel, result in zip(kernels[:-1], pruned[:-1], strict=True):
        assert result.shape == kernel.shape
        n = kernel.size if method == "weight" else kernel.shape[1]
        per_element = 1 if method == "weight" else kernel.shape[0]
        # Random normals have no exact zeros, so every zero is a pruned entry.
        assert np.count_nonzero(result == 0) == count_to_prune(n, k) * per_element
        assert result.tobytes() == prune_matrix(kernel, method, k).tobytes()
    assert pruned[-1].dtype == kernels[-1].dtype
    assert pruned[-1].tobytes() == kernels[-1].tobytes()
    for kernel, copy in zip(kernels, before, strict=True):
        assert kernel.tobytes() == copy.tobytes()


@pytest.mark.parametrize("method", ["weight", "unit", "random", "global"])
@pytest.mark.parametrize("k", [50, 90])
@pytest.mark.parametrize("shape", list(HIDDEN_SHAPES))
def test_prune_network_on_the_real_shapes(shape: str, k: int, method: str) -> None:
    """Every hidden matrix of the default widths, LeNet-300-100 and a one-hidden-layer
    network loses exactly its count (the global threshold: the same total); the logits matrix
    is never touched, however many hidden ones there are."""
    kernels = he_kernels(np.random.default_rng(k), HIDDEN_SHAPES[shape])
    pruned = prune_network(kernels, method, k, seed=1)
    removed = [np.count_nonzero(kernel == 0) for kernel in pruned[:-1]]
    hidden = [kernel.shape for kernel in kernels[:-1]]
    if method == "unit":
        assert removed == [count_to_prune(columns, k) * rows for rows, columns in hidden]
    elif method == "global":
        assert sum(removed) == sum(count_to_prune(rows * columns, k) for rows, columns in hidden)
    else:
        assert removed == [count_to_prune(rows * columns, k) for rows, columns in hidden]
    assert pruned[-1].tobytes() == kernels[-1].tobytes()


@pytest.mark.parametrize("method", METHODS)
def test_prune_network_single_kernel_is_untouched(method: str) -> None:
    logits = network()[-1]
    (result,) = prune_network([logits], method, 90)
    assert result.tobytes() == logits.tobytes()


def test_prune_network_validates_arguments() -> None:
    with pytest.raises(ValueError, match="unknown pruning method"):
        prune_network(network(), "magnitude", 50)
    with pytest.raises(ValueError, match="k is 100"):
        prune_network(network()[-1:], "weight", 100)  # checked even with no hidden kernel
    with pytest.raises(ValueError, match="at least one kernel"):
        prune_network([], "weight", 50)


# ---- baselines: random and global --------------------------------------------------------


@given(matrix=matrices, k=ks, seed=st.integers(0, 2**32 - 1))
@FAST
def test_random_mask_removes_exactly_the_weight_count(
    matrix: np.ndarray, k: int, seed: int
) -> None:
    keep = random_mask(matrix, k, np.random.default_rng(seed))
    assert keep.shape == matrix.shape and keep.dtype == bool
    assert np.count_nonzero(~keep) == count_to_prune(matrix.size, k)
    assert np.count_nonzero(~keep) == np.count_nonzero(~weight_mask(matrix, k))


def test_random_mask_is_seeded_nested_and_blind_to_values() -> None:
    matrix = np.arange(1, 401, dtype=np.float32).reshape(20, 20)
    same = [random_mask(matrix, 50, np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(*same)
    assert not np.array_equal(same[0], random_mask(matrix, 50, np.random.default_rng(8)))
    # The same draw whatever the values: only positions matter.
    np.testing.assert_array_equal(same[0], random_mask(-matrix, 50, np.random.default_rng(7)))
    small, large = (random_mask(matrix, k, np.random.default_rng(7)) for k in (30, 60))
    assert not np.any(~small & large)
    # Unlike magnitude pruning, it removes large entries too.
    assert not np.array_equal(same[0], weight_mask(matrix, 50))


@given(
    matrices_=st.lists(matrices, min_size=1, max_size=4),
    k=ks,
)
@FAST
def test_global_masks_remove_the_smallest_total(matrices_: list[np.ndarray], k: int) -> None:
    masks = global_masks(matrices_, k)
    assert [m.shape for m in masks] == [a.shape for a in matrices_]
    removed = np.concatenate([~m.ravel() for m in masks])
    total = sum(count_to_prune(a.size, k) for a in matrices_)
    assert np.count_nonzero(removed) == total
    # Exactly the first `total` entries of a stable sort over all magnitudes, in network order.
    magnitude = np.concatenate([np.abs(a).ravel() for a in matrices_])
    expected = np.zeros(magnitude.size, dtype=bool)
    expected[np.argsort(magnitude, kind="stable")[:total]] = True
    np.testing.assert_array_equal(removed, expected)


def test_global_threshold_moves_weights_between_layers() -> None:
    small = np.full((4, 4), 0.1, dtype=np.float32)
    large = np.full((4, 4), 5.0, dtype=np.float32)
    small_keep, large_keep = global_masks([small, large], 50)
    assert not small_keep.any() and large_keep.all()  # 16 removed, all from the small matrix
    assert global_masks([], 50) == []


@pytest.mark.parametrize("method", ["weight", "unit", "random", "global"])
@pytest.mark.parametrize("k", [0, 50, 90])
def test_network_masks_match_prune_network(method: str, k: int) -> None:
    kernels = network()
    masks = network_masks(kernels, method, k, seed=3)
    pruned = prune_network(kernels, method, k, seed=3)
    assert masks[-1].all() and pruned[-1].tobytes() == kernels[-1].tobytes()
    for kernel, keep, result in zip(kernels, masks, pruned, strict=True):
        np.testing.assert_array_equal(result, np.where(keep, kernel, 0))
    hidden_removed = sum(np.count_nonzero(~m) for m in masks[:-1])
    if method in ("random", "global"):
        weight_removed = sum(np.count_nonzero(~m) for m in network_masks(kernels, "weight", k)[:-1])
        assert hidden_removed == weight_removed


def test_random_network_masks_depend_on_seed_only_for_random() -> None:
    kernels = network()
    for method in ("weight", "unit", "global"):
        a = network_masks(kernels, method, 50, seed=0)
        b = network_masks(kernels, method, 50, seed=1)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    a = network_masks(kernels, "random", 50, seed=0)
    b = network_masks(kernels, "random", 50, seed=1)
    assert not all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
