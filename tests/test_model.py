"""The Keras MLP, the numpy kernels file and forward pass, the validation split; no training."""

import importlib

import numpy as np
import pytest
from shapes import DEFAULT_HIDDEN, HIDDEN_SHAPES, he_kernels, kernel_shapes

from prunelab.data.datasets import Split
from prunelab.model.forward import forward
from prunelab.model.weights import hidden_widths, load_kernels, save_kernels

# The network the README documents, which params.yaml's model.hidden gives by default.
EXPECTED_SHAPES = [(784, 1000), (1000, 1000), (1000, 500), (500, 200), (200, 10)]


def _random_kernels(seed: int = 0) -> list[np.ndarray]:
    return he_kernels(np.random.default_rng(seed))


@pytest.fixture(scope="module")
def model_module():
    return importlib.import_module("prunelab.model.network")


@pytest.fixture(scope="module")
def keras():
    return importlib.import_module("keras")


@pytest.fixture
def mlp(model_module):
    return model_module.build_mlp(DEFAULT_HIDDEN)


def test_the_default_widths_are_the_documented_network():
    assert kernel_shapes(DEFAULT_HIDDEN) == EXPECTED_SHAPES
    assert hidden_widths(_random_kernels()) == DEFAULT_HIDDEN


@pytest.mark.parametrize("shape", list(HIDDEN_SHAPES))
def test_build_mlp_has_one_bias_free_kernel_per_layer(model_module, shape):
    hidden = HIDDEN_SHAPES[shape]
    model = model_module.build_mlp(hidden)
    assert [tuple(w.shape) for w in model.weights] == kernel_shapes(hidden)
    assert len(model.trainable_weights) == len(hidden) + 1
    assert model.non_trainable_weights == []
    assert not any("bias" in w.path or "bias" in w.name for w in model.weights)
    dense = model_module.dense_layers(model)
    assert len(dense) == len(hidden) + 1
    assert all(layer.use_bias is False and layer.bias is None for layer in dense)
    assert model.count_params() == sum(r * c for r, c in kernel_shapes(hidden))
    assert model.input_shape == (None, 784)
    assert model.output_shape == (None, 10)


def test_activations_relu_hidden_linear_logits(mlp, model_module, keras):
    dense = model_module.dense_layers(mlp)
    for layer in dense[:-1]:
        assert layer.activation is keras.activations.relu
    assert dense[-1].activation is keras.activations.linear
    assert dense[-1].name == "logits"


@pytest.mark.parametrize("rate", [0.2, 0.5])
@pytest.mark.parametrize("shape", list(HIDDEN_SHAPES))
def test_dropout_adds_layers_but_no_weights(model_module, keras, rate, shape):
    hidden = HIDDEN_SHAPES[shape]
    model = model_module.build_mlp(hidden, dropout=rate)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(dropouts) == len(hidden)
    assert all(layer.rate == rate for layer in dropouts)
    assert [tuple(w.shape) for w in model.weights] == kernel_shapes(hidden)
    assert len(model.get_weights()) == len(hidden) + 1
    assert not any("bias" in w.path for w in model.weights)


def test_no_dropout_layers_by_default(mlp, keras):
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in mlp.layers)


def test_get_set_kernels_round_trip(mlp, model_module):
    kernels = _random_kernels(1)
    model_module.set_kernels(mlp, kernels)
    got = model_module.get_kernels(mlp)
    assert [k.shape for k in got] == EXPECTED_SHAPES
    for mine, theirs in zip(kernels, got, strict=True):
        assert theirs.dtype == np.float32
        np.testing.assert_array_equal(mine, theirs)


def test_set_kernels_rejects_the_wrong_count(mlp, model_module):
    with pytest.raises(ValueError):
        model_module.set_kernels(mlp, _random_kernels()[:4])


def test_numpy_forward_matches_keras_predict(mlp, model_module):
    kernels = _random_kernels(2)
    model_module.set_kernels(mlp, kernels)
    images = np.random.default_rng(3).random((64, 784), dtype=np.float32)
    expected = mlp.predict(images, verbose=0)
    got = forward(kernels, images)
    assert got.shape == (64, 10)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    assert len(np.unique(got.argmax(axis=1))) > 1  # a meaningful comparison, not all one class


def test_forward_is_bias_free_relu():
    kernels = _random_kernels(4)
    images = np.random.default_rng(5).random((9, 784), dtype=np.float32)
    # No biases: a zero image gives zero logits; ReLU is positively homogeneous.
    np.testing.assert_array_equal(forward(kernels, np.zeros((2, 784), np.float32)), 0.0)
    doubled = forward(kernels, 2 * images)
    np.testing.assert_allclose(doubled, 2 * forward(kernels, images), rtol=1e-5)
    # Hidden ReLU matters: the linear product of all kernels gives different logits.
    linear = images @ kernels[0] @ kernels[1] @ kernels[2] @ kernels[3] @ kernels[4]
    assert not np.allclose(forward(kernels, images), linear, rtol=1e-3, atol=1e-3)


def test_forward_batches_agree_and_empty_input():
    kernels = _random_kernels(6)
    images = np.random.default_rng(7).random((23, 784), dtype=np.float32)
    # Equal to float32 rounding: BLAS sums a 5-row and a 23-row product in other orders, and
    # with one thread or two (1.2e-6 and 1.4e-6 apart at most on logits up to 2.6, measured).
    np.testing.assert_allclose(
        forward(kernels, images, batch_size=5), forward(kernels, images), rtol=1e-5, atol=1e-5
    )
    empty = forward(kernels, np.zeros((0, 784), np.float32))
    assert empty.shape == (0, 10)


def test_save_load_kernels_round_trip(tmp_path):
    kernels = _random_kernels(8)
    kernels[1] = kernels[1].astype(np.float64)  # saved as float32 regardless
    path = tmp_path / "models" / "weights.npz"
    save_kernels(kernels, path)
    loaded = load_kernels(path)
    assert len(loaded) == 5
    for mine, theirs in zip(kernels, loaded, strict=True):
        assert theirs.dtype == np.float32
        np.testing.assert_array_equal(theirs, mine.astype(np.float32))
    with np.load(path) as archive:
        assert sorted(archive.files) == [f"kernel_{i}" for i in range(5)]
    assert [p.name for p in path.parent.iterdir()] == ["weights.npz"]


def test_save_kernels_failure_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "weights.npz"
    path.write_bytes(b"previous")

    def broken_savez(stream, **arrays):
        stream.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_kernels(_random_kernels(), path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["weights.npz"]
    assert path.read_bytes() == b"previous"


# --- training.split_validation -------------------------------------------------------------


@pytest.fixture(scope="module")
def train_stage():
    return importlib.import_module("prunelab.model.training")


def _split(count: int) -> Split:
    labels = np.arange(count, dtype=np.int64)
    images = np.repeat(labels[:, None].astype(np.float32), 4, axis=1)
    return Split(images, labels)


@pytest.mark.parametrize(
    ("count", "fraction", "held"), [(50, 0.1, 5), (50, 0.5, 25), (10, 0.01, 1), (7, 0.3, 2)]
)
def test_split_validation_sizes_and_disjointness(train_stage, count, fraction, held):
    fit, val = train_stage.split_validation(_split(count), fraction, seed=0)
    assert len(val.labels) == held
    assert len(fit.labels) == count - held
    assert set(fit.labels).isdisjoint(val.labels)
    assert sorted(np.concatenate([fit.labels, val.labels])) == list(range(count))
    for part in (fit, val):  # images stay paired with their labels
        np.testing.assert_array_equal(part.images[:, 0], part.labels)
        assert part.images.shape == (len(part.labels), 4)


def test_split_validation_is_seeded(train_stage):
    data = _split(100)
    fit_a, val_a = train_stage.split_validation(data, 0.2, seed=3)
    fit_b, val_b = train_stage.split_validation(data, 0.2, seed=3)
    _, val_c = train_stage.split_validation(data, 0.2, seed=4)
    np.testing.assert_array_equal(val_a.labels, val_b.labels)
    np.testing.assert_array_equal(fit_a.labels, fit_b.labels)
    assert not np.array_equal(val_a.labels, val_c.labels)
    assert not np.array_equal(val_a.labels, np.arange(20))  # shuffled, not the first 20


@pytest.mark.parametrize(("count", "fraction"), [(1, 0.1), (10, 0.96), (2, 0.9)])
def test_split_validation_nothing_left_to_train(train_stage, count, fraction):
    with pytest.raises(ValueError, match=r"validation fraction of .* leaves no training") as info:
        train_stage.split_validation(_split(count), fraction, seed=0)
    # A library error, not the config module's ParamsError: the stages add which key to change.
    assert type(info.value) is ValueError


def test_load_kernels_reports_missing_unreadable_and_empty_files(tmp_path):
    from prunelab.model.weights import load_kernels
    from prunelab.wiring.errors import WeightsError

    with pytest.raises(WeightsError, match="missing: run `dvc repro`"):
        load_kernels(tmp_path / "absent.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip archive")
    with pytest.raises(WeightsError, match="cannot read kernels from .*garbage.npz"):
        load_kernels(tmp_path / "garbage.npz")
    np.savez(tmp_path / "empty.npz", other=np.zeros(3))
    with pytest.raises(WeightsError, match="holds no kernel_0"):
        load_kernels(tmp_path / "empty.npz")
