"""Dead units, effective kernels, shrinking, size figures, accuracy and loss
(prunelab.stats.sparsity)."""

import json
import math

import numpy as np
import pytest
from shapes import DEFAULT_HIDDEN, HIDDEN_SHAPES, he_kernels, kernel_shapes

from prunelab.model.forward import accuracy_and_loss, forward
from prunelab.model.structure import alive_units, effective_kernels, shrink
from prunelab.stats.sparsity import magnitude_stats, model_stats


def chain_reaction_kernels() -> list[np.ndarray]:
    """2 inputs -> 3 -> 3 -> 3 -> 2 logits, with deadness that spreads both ways.

    * h1 unit 0 has an all-zero column (reads nothing): dead at once.
    * h2 unit 0 reads only h1 unit 0: dies next (forward chain).
    * h2 unit 2 has an all-zero row in the logits matrix (nobody reads it): dead at once.
    * h1 unit 2 feeds only h2 unit 2, and h0 unit 2 feeds only h1 unit 2: they die one after
      the other (backward chain), although both have nonzero inputs and outputs.
    Left alive: h0 units 0, 1; h1 unit 1; h2 unit 1.
    """
    k0 = [[0, 2, 3],
          [4, 5, 6]]
    k1 = [[0, 1, 0],
          [0, 2, 0],
          [0, 0, 3]]
    k2 = [[4, 5, 0],
          [0, 6, 0],
          [0, 0, 7]]
    k3 = [[1, 2],
          [3, 4],
          [0, 0]]
    return [np.array(k, dtype=np.float32) for k in (k0, k1, k2, k3)]


def naive_alive(kernels: list[np.ndarray]) -> list[np.ndarray]:
    """The brief's rule, literally: start all alive, kill until nothing changes."""
    alive = [np.ones(k.shape[1], dtype=bool) for k in kernels[:-1]]
    changed = True
    while changed:
        changed = False
        for layer in range(len(alive)):
            rows = alive[layer - 1] if layer else np.ones(kernels[0].shape[0], dtype=bool)
            columns = (
                alive[layer + 1] if layer + 1 < len(alive)
                else np.ones(kernels[-1].shape[1], dtype=bool)
            )
            reads = (kernels[layer][rows] != 0).any(axis=0)
            is_read = (kernels[layer + 1][:, columns] != 0).any(axis=1)
            new = alive[layer] & reads & is_read
            if not np.array_equal(new, alive[layer]):
                alive[layer], changed = new, True
    return alive


def random_sparse_kernels(rng, sizes, density) -> list[np.ndarray]:
    kernels = []
    for rows, columns in zip(sizes[:-1], sizes[1:]):
        values = rng.normal(size=(rows, columns)).astype(np.float32)
        keep = rng.random((rows, columns)) < density
        kernels.append(np.where(keep, values, 0).astype(np.float32))
    return kernels


def test_chain_reaction_alive_units():
    alive = alive_units(chain_reaction_kernels())
    assert [a.tolist() for a in alive] == [
        [True, True, False],
        [False, True, False],
        [False, True, False],
    ]
    assert all(a.dtype == bool for a in alive)


def test_chain_reaction_matches_the_literal_fixed_point():
    kernels = chain_reaction_kernels()
    assert [a.tolist() for a in alive_units(kernels)] == [a.tolist() for a in naive_alive(kernels)]


@pytest.mark.parametrize("seed", range(12))
def test_random_sparse_networks_match_the_literal_fixed_point(seed):
    rng = np.random.default_rng(seed)
    sizes = [6, 9, 8, 7, 5, 3]
    kernels = random_sparse_kernels(rng, sizes, density=rng.uniform(0.08, 0.3))
    expected = naive_alive(kernels)
    got = alive_units(kernels)
    assert [a.tolist() for a in got] == [a.tolist() for a in expected]


def test_effective_kernels_of_the_chain_reaction():
    original = chain_reaction_kernels()
    before = [k.copy() for k in original]
    effective = effective_kernels(original)
    expected = [
        [[0, 2, 0], [4, 5, 0]],
        [[0, 1, 0], [0, 2, 0], [0, 0, 0]],
        [[0, 0, 0], [0, 6, 0], [0, 0, 0]],
        [[0, 0], [3, 4], [0, 0]],
    ]
    for got, want in zip(effective, expected):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
    for got, want in zip(original, before):  # inputs untouched
        np.testing.assert_array_equal(got, want)
    again = effective_kernels(effective)  # a fixed point
    for got, want in zip(again, effective):
        np.testing.assert_array_equal(got, want)


def test_shrink_of_the_chain_reaction():
    shrunk = shrink(chain_reaction_kernels())
    assert [k.shape for k in shrunk] == [(2, 2), (2, 1), (1, 1), (1, 2)]
    np.testing.assert_array_equal(shrunk[0], [[0, 2], [4, 5]])
    np.testing.assert_array_equal(shrunk[1], [[1], [2]])
    np.testing.assert_array_equal(shrunk[2], [[6]])
    np.testing.assert_array_equal(shrunk[3], [[3, 4]])


def test_shrink_preserves_logits_exactly_with_integer_weights():
    # Small integers: every product and sum is exact in float32, so equality is bitwise.
    rng = np.random.default_rng(1)
    images = rng.integers(-3, 4, size=(64, 2)).astype(np.float32)  # any sign, not just pixels
    kernels = chain_reaction_kernels()
    expected = forward(kernels, images)
    np.testing.assert_array_equal(forward(shrink(kernels), images), expected)
    np.testing.assert_array_equal(forward(effective_kernels(kernels), images), expected)

    sizes = [12, 10, 9, 8, 6, 4]
    kernels = [
        np.where(rng.random((r, c)) < 0.25, rng.integers(-3, 4, size=(r, c)), 0).astype(np.float32)
        for r, c in zip(sizes[:-1], sizes[1:])
    ]
    images = rng.integers(-2, 3, size=(200, 12)).astype(np.float32)
    shrunk = shrink(kernels)
    assert sum(k.size for k in shrunk) < sum(k.size for k in kernels)  # something was removed
    np.testing.assert_array_equal(forward(shrunk, images), forward(kernels, images))


@pytest.mark.parametrize("shape", list(HIDDEN_SHAPES))
def test_shrink_preserves_logits_of_a_pruned_real_shaped_network(shape):
    from prunelab.pruning.masks import count_to_prune, prune_network

    rng = np.random.default_rng(2)
    hidden = HIDDEN_SHAPES[shape]
    dense = he_kernels(rng, hidden)
    images = rng.random((64, 784), dtype=np.float32)
    for method, k in (("unit", 90), ("weight", 99)):
        pruned = prune_network(dense, method, k)
        shrunk = shrink(pruned)
        assert shrunk[0].shape[0] == 784 and shrunk[-1].shape[1] == 10
        np.testing.assert_allclose(
            forward(shrunk, images), forward(pruned, images), rtol=1e-5, atol=1e-6
        )
    # Unit pruning at 90 % keeps 10 % of each layer's units (none die by propagation here):
    # 100, 100, 50, 20 of the default widths.
    kept = [width - count_to_prune(width, 90) for width in hidden]
    assert [k.shape[1] for k in shrink(prune_network(dense, "unit", 90))] == [*kept, 10]


def test_all_dead_layer_keeps_shapes_valid_and_gives_zero_logits():
    rng = np.random.default_rng(3)
    sizes = [5, 4, 3, 4, 2]
    kernels = [rng.normal(size=(r, c)).astype(np.float32) for r, c in zip(sizes[:-1], sizes[1:])]
    kernels[1][:] = 0  # h1 reads nothing, so nothing reaches the logits
    alive = alive_units(kernels)
    assert [a.tolist() for a in alive] == [[False] * 4, [False] * 3, [False] * 4]
    shrunk = shrink(kernels)
    assert [k.shape for k in shrunk] == [(5, 0), (0, 0), (0, 0), (0, 2)]
    images = rng.normal(size=(7, 5)).astype(np.float32)
    np.testing.assert_array_equal(forward(shrunk, images), np.zeros((7, 2), np.float32))
    np.testing.assert_array_equal(forward(kernels, images), np.zeros((7, 2), np.float32))
    assert all(np.count_nonzero(k) == 0 for k in effective_kernels(kernels))

    stats = model_stats(kernels)
    assert stats["alive_units"] == [0, 0, 0]
    assert stats["shrunk_layer_sizes"] == [5, 0, 0, 0, 2]
    assert stats["shrunk_macs"] == 0
    assert stats["mac_reduction"] is None
    assert stats["sparse_mac_reduction"] is None
    assert stats["effective_sparsity"] == 1.0
    assert stats["effective_nonzero_params"] == 0
    json.dumps(stats, allow_nan=False)
    accuracy, loss = accuracy_and_loss(kernels, images, np.arange(7) % 2)
    assert loss == pytest.approx(math.log(2))  # all-equal logits: uniform prediction


def test_model_stats_of_the_chain_reaction_exactly():
    stats = model_stats(chain_reaction_kernels())
    assert stats == {
        "params": 30,
        "nonzero_params": 16,
        "effective_nonzero_params": 8,
        "sparsity": 14 / 30,
        "sparsity_hidden": 12 / 24,
        "effective_sparsity": 22 / 30,
        "effective_sparsity_hidden": 18 / 24,
        "layer_sparsity": [1 / 6, 6 / 9, 5 / 9, 2 / 6],
        "layer_effective_sparsity": [3 / 6, 7 / 9, 8 / 9, 4 / 6],
        "compression_ratio": 30 / 16,
        "alive_units": [2, 1, 1],
        "shrunk_layer_sizes": [2, 2, 1, 1, 2],
        "dense_macs": 30,
        "shrunk_macs": 9,
        "mac_reduction": 30 / 9,
        "sparse_mac_reduction": 30 / 8,
    }
    for value in stats.values():  # plain Python types, JSON-ready
        assert type(value) in (int, float, list)
    json.dumps(stats, allow_nan=False)


def test_model_stats_of_the_dense_real_network():
    rng = np.random.default_rng(4)
    dense = [rng.normal(size=shape).astype(np.float32) + 0.5
             for shape in kernel_shapes(DEFAULT_HIDDEN)]
    for kernel in dense:
        kernel[kernel == 0] = 1.0
    stats = model_stats(dense)
    assert stats["params"] == stats["dense_macs"] == 2_386_000
    assert stats["shrunk_macs"] == 2_386_000
    assert stats["mac_reduction"] == stats["sparse_mac_reduction"] == 1.0
    assert stats["sparsity"] == stats["effective_sparsity"] == 0.0
    assert stats["compression_ratio"] == 1.0
    assert stats["alive_units"] == [1000, 1000, 500, 200]


def test_unit_pruning_leaves_more_effective_sparsity():
    from prunelab.pruning.masks import prune_network

    rng = np.random.default_rng(5)
    sizes = [20, 40, 40, 20, 10, 10]
    dense = [rng.normal(size=(r, c)).astype(np.float32) for r, c in zip(sizes[:-1], sizes[1:])]
    stats = model_stats(prune_network(dense, "unit", 50))
    assert stats["alive_units"] == [20, 20, 10, 5]
    # Half the columns of each hidden matrix are zero; their rows in the next matrix are
    # useless too, so about three quarters of each hidden matrix but the first is dead weight.
    assert stats["layer_sparsity"][:4] == [0.5, 0.5, 0.5, 0.5]
    assert stats["layer_effective_sparsity"] == [0.5, 0.75, 0.75, 0.75, 0.5]
    assert stats["effective_nonzero_params"] == stats["shrunk_macs"]


def test_kernels_that_do_not_chain_are_rejected():
    with pytest.raises(ValueError, match="do not chain"):
        alive_units([np.ones((3, 4)), np.ones((5, 2))])
    with pytest.raises(ValueError, match="2-D"):
        model_stats([np.ones(3)])
    with pytest.raises(ValueError, match="at least one kernel"):
        shrink([])


def test_accuracy_and_loss_by_hand():
    # One kernel (no hidden layer): logits = images @ identity = images.
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0], [0.5, 2.5, -1.0]])
    labels = np.array([0, 1, 0, 1])
    accuracy, loss = accuracy_and_loss([np.eye(3, dtype=np.float32)], logits, labels)

    def nll(row, label):
        return math.log(sum(math.exp(v) for v in row)) - row[label]

    assert accuracy == 0.75  # row 2 is a tie: argmax picks class 0, which is right
    assert loss == pytest.approx(np.mean([nll(r, y) for r, y in zip(logits.tolist(), labels)]))
    assert isinstance(accuracy, float) and isinstance(loss, float)


def test_accuracy_and_loss_are_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [0.0, 1000.0], [-1000.0, 1000.0]])
    accuracy, loss = accuracy_and_loss([np.eye(2, dtype=np.float32)], logits, np.array([0, 0, 1]))
    assert accuracy == pytest.approx(2 / 3)
    assert loss == pytest.approx(1000 / 3)
    assert math.isfinite(loss)


def test_accuracy_and_loss_reject_bad_labels():
    kernels = [np.eye(2, dtype=np.float32)]
    with pytest.raises(ValueError, match="empty"):
        accuracy_and_loss(kernels, np.zeros((0, 2)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        accuracy_and_loss(kernels, np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(ValueError, match="labels"):
        accuracy_and_loss(kernels, np.zeros((2, 2)), np.array([0]))


def test_magnitude_stats():
    kernel = np.array([[1.0, -2.0], [0.05, 10.0], [-0.5, 0.0]])  # 6 weights, max 10
    stats = magnitude_stats(kernel)
    assert stats["abs_max"] == 10.0
    assert stats["frac_below_1pct_max"] == 2 / 6  # 0.0 and 0.05 are below 0.1
    assert stats["frac_below_10pct_max"] == 3 / 6  # 0, 0.05 and 0.5; 1.0 is not below 1.0
    assert stats["abs_q50"] == pytest.approx(0.75)
    energy = 1 + 4 + 0.0025 + 100 + 0.25
    assert stats["energy_smallest_50pct"] == pytest.approx((0 + 0.0025 + 0.25) / energy)
    assert all(type(v) is float for v in stats.values())
