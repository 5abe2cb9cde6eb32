"""Every execution route gives the masked dense model's logits; the compact Keras model too.

No timing assertions: speed is the benchmark's business. A hand-computed tiny network first,
then random He-initialised kernels of the default widths, LeNet-300-100 and one hidden layer
(tests/shapes.py), pruned by ``prune_network`` (weight 90 / 99, unit 90), then compacted, on
uniform random pixels (every shape) and on real Fashion-MNIST test images (the default).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shapes import DEFAULT_HIDDEN, HIDDEN_SHAPES, he_kernels, kernel_shapes

from prunelab.data.datasets import CLASSES, PIXELS
from prunelab.data.idx import read_idx_file
from prunelab.model.forward import forward
from prunelab.model.weights import hidden_widths
from prunelab.pruning.masks import count_to_prune, prune_network
from prunelab.speed.routes import numba_fused, numba_kernels
from prunelab.speed.routes.base import compact
from prunelab.speed.routes.keras_model import build_compact_keras
from prunelab.speed.routes.litert import pad_hidden_widths
from prunelab.speed.routes.registry import DENSE_ROUTES, ROUTES, SPARSE_ROUTES, prepare
from prunelab.speed.routes.tensorflow_ops import keras_runner

CASES = [("weight", 90), ("weight", 99), ("unit", 90)]
# 1: serial per-sample kernels; 8: per-sample over threads; 17: one partial tile; 300: tiles
# over threads with a partial last one.
BATCHES = (1, 8, 17, 300)

# A 4-4-2-2 network small enough to run by hand. Hidden unit 3 of layer 0 reads nothing (dead);
# row 2 of TINY[1] is zero, so unit 2 of layer 0 is read by nothing (dead too). (Four inputs, not
# three: litert-sparse gave wrong logits with three -- the real network has 784, a multiple of 4.)
TINY = [
    np.array([[1, -1, 2, 0], [0, 2, 0, 0], [3, 1, -1, 0], [0, 1, 1, 0]], np.float32),
    np.array([[1, 1], [2, -1], [0, 0], [5, 5]], np.float32),
    np.array([[1, -1], [2, 1]], np.float32),
]
TINY_INPUTS = np.array(
    [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1], [2, 0, 1, 3]],
    np.float32,
)
# Worked out on paper: h0 = relu(x @ TINY[0]), h1 = relu(h0 @ TINY[1]), logits = h1 @ TINY[2].
#   [1, 0, 0, 0]: h0 = relu([1, -1, 2, 0]) = [1, 0, 2, 0]; h1 = [1, 1]; [3, 0]
#   [0, 1, 0, 0]: h0 = [0, 2, 0, 0]; h1 = relu([4, -2]) = [4, 0]; [4, -4]
#   [0, 0, 1, 0]: h0 = relu([3, 1, -1, 0]) = [3, 1, 0, 0]; h1 = [5, 2]; [9, -3]
#   [0, 0, 0, 1]: h0 = [0, 1, 1, 0]; h1 = relu([2, -1]) = [2, 0]; [2, -2]
#   [1, 1, 1, 1]: h0 = relu([4, 3, 2, 0]) = [4, 3, 2, 0]; h1 = [10, 1]; [12, -9]
#   [2, 0, 1, 3]: h0 = relu([5, 2, 6, 0]) = [5, 2, 6, 0]; h1 = [9, 3]; [15, -6]
TINY_LOGITS = np.array([[3, 0], [4, -4], [9, -3], [2, -2], [12, -9], [15, -6]], np.float32)


@pytest.fixture(scope="module")
def shaped_networks() -> dict[str, dict[tuple[str, int], list[np.ndarray]]]:
    """Per shape name, the pruned networks of every case."""
    networks = {}
    for name, hidden in HIDDEN_SHAPES.items():
        dense = he_kernels(np.random.default_rng(0), hidden)
        networks[name] = {case: prune_network(dense, *case) for case in CASES}
    return networks


@pytest.fixture(scope="module")
def networks(shaped_networks) -> dict[tuple[str, int], list[np.ndarray]]:
    """The default widths' pruned networks."""
    return shaped_networks["default"]


@pytest.fixture(scope="module")
def images() -> dict[int, np.ndarray]:
    rng = np.random.default_rng(1)
    batches = {n: rng.random((n, PIXELS), dtype=np.float32) for n in BATCHES}
    batches[300][:, ::3] = 0.0  # some black pixels, as in real images (zero-skipping paths)
    return batches


@pytest.fixture(scope="module")
def real_images() -> dict[int, np.ndarray]:
    """Fashion-MNIST test images (Debian's dataset-fashion-mnist, which `make test` installs),
    cut into the same batch sizes: half their pixels are zero, in the patterns of real clothes."""
    path = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    if not path.exists():
        pytest.fail("Fashion-MNIST is missing: run `make test` (it installs dataset-fashion-mnist)")
    pixels = read_idx_file(path)[: sum(BATCHES)].reshape(-1, PIXELS)
    rows = pixels.astype(np.float32) / 255.0
    starts = np.cumsum((0,) + BATCHES)
    return {n: rows[start:start + n] for n, start in zip(BATCHES, starts, strict=False)}


def assert_logits_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * max(scale, 1.0))


def test_route_table_and_order():
    # The benchmark runs and reports routes in this order (JSON keys, CSV rows).
    assert DENSE_ROUTES == ("numpy", "numpy-1t", "tf", "litert", "numba")
    assert SPARSE_ROUTES == ("scipy-csr", "numba-csr", "tf-csr", "tf-sparse", "litert-sparse")
    assert {name: route.runtime for name, route in ROUTES.items()} == {
        "numpy": "numpy", "numpy-1t": "numpy", "tf": "tensorflow", "litert": "litert",
        "numba": "numba", "scipy-csr": "numpy", "numba-csr": "numba", "tf-csr": "tensorflow",
        "tf-sparse": "tensorflow", "litert-sparse": "litert",
    }


def test_tiny_network_compacts_to_its_live_units():
    small = compact(TINY)
    assert hidden_widths(small) == (2, 2)
    np.testing.assert_array_equal(small[0], [[1, -1], [0, 2], [3, 1], [0, 1]])
    np.testing.assert_array_equal(small[1], [[1, 1], [2, -1]])


# The tf route builds the real 784-input Keras model, so it cannot take the tiny network.
@pytest.mark.parametrize("name", [name for name in ROUTES if name != "tf"])
@pytest.mark.parametrize("compacted", [False, True], ids=["as-is", "compact"])
@pytest.mark.parametrize("repeat", [1, 4], ids=["6-rows", "24-rows"])  # 24: tiled numba-csr
def test_route_gives_hand_computed_logits(name, compacted, repeat):
    runner = prepare(name, compact(TINY) if compacted else TINY)
    batch = np.tile(TINY_INPUTS, (repeat, 1))
    np.testing.assert_allclose(runner(batch), np.tile(TINY_LOGITS, (repeat, 1)), atol=1e-6)


@pytest.mark.parametrize("name", list(ROUTES))
@pytest.mark.parametrize("case", CASES, ids=[f"{m}-{k}" for m, k in CASES])
@pytest.mark.parametrize("shape", list(HIDDEN_SHAPES))
def test_route_matches_masked_dense_forward(name, case, shape, shaped_networks, images):
    pruned = shaped_networks[shape][case]
    runner = prepare(name, compact(pruned))
    for batch in images.values():
        assert_logits_close(runner(batch), forward(pruned, batch))


@pytest.mark.parametrize("name", list(ROUTES))
@pytest.mark.parametrize("case", CASES, ids=[f"{m}-{k}" for m, k in CASES])
def test_route_matches_masked_dense_forward_on_real_images(name, case, networks, real_images):
    pruned = networks[case]
    runner = prepare(name, compact(pruned))
    for batch in real_images.values():
        assert (batch == 0).mean() > 0.3  # the zero-skipping paths are exercised
        assert_logits_close(runner(batch), forward(pruned, batch))


@pytest.mark.parametrize("name", ["numpy", "numba", "numba-csr", "scipy-csr"])
def test_routes_take_uncompacted_kernels(name, networks, images):
    pruned = networks[("weight", 99)]
    runner = prepare(name, pruned)
    assert_logits_close(runner(images[300]), forward(pruned, images[300]))


def kept_widths(hidden: tuple[int, ...], k: int) -> tuple[int, ...]:
    """Each hidden layer's units left by unit pruning at k."""
    return tuple(width - count_to_prune(width, k) for width in hidden)


@pytest.mark.parametrize("shape", list(HIDDEN_SHAPES))
def test_compact_shrinks_unit_pruned_network(shape, shaped_networks):
    small = compact(shaped_networks[shape][("unit", 90)])
    assert hidden_widths(small) == kept_widths(HIDDEN_SHAPES[shape], 90)
    assert all(k.dtype == np.float32 and k.flags.c_contiguous for k in small)


def test_default_unit_pruned_widths_are_the_documented_ones():
    """The README and the report quote 784-100-100-50-20-10 for unit 90 % of the default."""
    assert DEFAULT_HIDDEN == (1000, 1000, 500, 200)
    assert kept_widths(DEFAULT_HIDDEN, 90) == (100, 100, 50, 20)


@pytest.mark.parametrize("shape", list(HIDDEN_SHAPES))
def test_compact_keras_model_matches_and_survives_save_and_load(shape, shaped_networks, images,
                                                                tmp_path):
    keras = pytest.importorskip("keras")
    pruned = shaped_networks[shape][("unit", 90)]
    widths = kept_widths(HIDDEN_SHAPES[shape], 90)
    model = build_compact_keras(compact(pruned))
    assert model.count_params() == sum(rows * columns for rows, columns in
                                       kernel_shapes(widths))
    batch = images[300]
    expected = forward(pruned, batch)
    assert_logits_close(model(batch, training=False).numpy(), expected)
    path = tmp_path / "compact.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert [layer.units for layer in reloaded.layers if hasattr(layer, "units")] == [
        *widths, CLASSES]
    assert_logits_close(reloaded(batch, training=False).numpy(), expected)
    assert_logits_close(keras_runner(reloaded)(batch), expected)


def test_padding_keeps_logits(networks, images):
    small = compact(networks[("weight", 99)])
    padded = pad_hidden_widths(small, 4)
    assert all(width % 4 == 0 for width in hidden_widths(padded))
    assert_logits_close(forward(padded, images[17]), forward(small, images[17]))


@pytest.mark.parametrize("name", ["numpy", "numba", "numba-csr", "scipy-csr"])
@pytest.mark.parametrize("shape", list(HIDDEN_SHAPES))
def test_all_dead_network_gives_zero_logits(name, shape):
    kernels = [np.zeros(s, np.float32) for s in kernel_shapes(HIDDEN_SHAPES[shape])]
    small = compact(kernels)
    assert hidden_widths(small) == (0,) * len(HIDDEN_SHAPES[shape])
    runner = prepare(name, small)
    for n in (3, 20):
        logits = runner(np.ones((n, PIXELS), np.float32))
        np.testing.assert_array_equal(logits, np.zeros((n, CLASSES), np.float32))


def test_bad_batch_and_unknown_route_are_rejected(networks):
    runner = prepare("numba-csr", networks[("weight", 90)])
    with pytest.raises(ValueError, match=r"\(n, 784\)"):
        runner(np.zeros((2, 783), np.float32))
    with pytest.raises(ValueError, match="unknown route"):
        prepare("nope", networks[("weight", 90)])


@pytest.mark.parametrize("hidden", [(1000, 1000, 500, 200), (300, 30, 15, 6), (7, 1, 33, 2)])
def test_every_row_of_the_dense_numba_operands_starts_on_a_cache_line(hidden):
    kernels = he_kernels(np.random.default_rng(0), hidden)
    sizes, offsets, offsets_t, flat, flat_t = numba_fused.dense_operands(kernels)
    assert list(sizes) == [784, *hidden, 10]
    for start, matrices, array in ((offsets, kernels, flat),
                                   (offsets_t, [k.T for k in kernels], flat_t)):
        assert array.ctypes.data % 64 == 0
        for offset, matrix in zip(start, matrices, strict=True):
            rows, width = matrix.shape
            stride = numba_kernels.row_stride(width)
            assert stride % 16 == 0 and width <= stride < width + 16
            assert offset % 16 == 0  # 16 floats: 64 bytes
            stored = array[offset: offset + rows * stride].reshape(rows, stride)
            np.testing.assert_array_equal(stored[:, :width], matrix)


@pytest.mark.parametrize("n_in", [1, 5, 8, 13])
@pytest.mark.parametrize("n_out", [1, 3, 4, 6, 9])
def test_both_forms_of_a_dense_numba_layer_give_its_product(n_in, n_out):
    """Both layer forms of the dense numba pass, whichever the cost model would pick, on every
    remainder of their four-at-a-time loops (outputs, and non-zero inputs from none to all)."""
    rng = np.random.default_rng(n_in * 10 + n_out)
    weights = rng.standard_normal((n_in, n_out)).astype(np.float32)
    # The layer starts inside the flat arrays, as every layer but the first does.
    first = np.ones((2, 3), np.float32)
    (_, base), flat = numba_fused.cache_line_rows([first, weights])
    (_, base_t), flat_t = numba_fused.cache_line_rows([first, weights.T])
    for nonzero in range(n_in + 1):
        source = np.zeros(n_in, np.float32)
        source[rng.permutation(n_in)[:nonzero]] = rng.random(nonzero).astype(np.float32) + 0.5
        expected = source.astype(np.float64) @ weights
        positions = np.empty(n_in, np.uint32)
        count = numba_kernels._nonzero_positions(source, positions)
        assert count == nonzero
        added = np.full(n_out, np.nan, np.float32)
        numba_kernels._add_rows(flat, base, n_out, source, positions, count, added)
        dotted = np.full(n_out, np.nan, np.float32)
        numba_kernels._dot_rows(flat_t, base_t, n_in, n_out, source, dotted)
        np.testing.assert_allclose(added, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(dotted, expected, rtol=1e-5, atol=1e-5)
