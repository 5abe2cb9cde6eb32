"""The Keras model: 784 -> 1000 -> 1000 -> 500 -> 200 -> 10, ReLU, no biases, logits out."""

from __future__ import annotations

import keras
import numpy as np

from prunelab.weights import LAYER_SIZES


def build_mlp(dropout: float = 0.0, hidden_sizes: tuple[int, ...] = LAYER_SIZES[1:-1]) -> keras.Model:
    """Build the MLP; ``dropout`` (a rate, 0 = none) follows each hidden ReLU during training only.

    Dropout layers hold no weights, so the model's variables are exactly the five kernels.
    """
    inputs = keras.Input(shape=(LAYER_SIZES[0],), name="pixels")
    x = inputs
    for index, units in enumerate(hidden_sizes):
        x = keras.layers.Dense(units, activation="relu", use_bias=False, name=f"hidden_{index}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout_{index}")(x)
    logits = keras.layers.Dense(LAYER_SIZES[-1], use_bias=False, name="logits")(x)
    return keras.Model(inputs, logits, name="mlp")


def dense_layers(model: keras.Model) -> list[keras.layers.Dense]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def get_kernels(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(layer.kernel.numpy()) for layer in dense_layers(model)]


def set_kernels(model: keras.Model, kernels: list[np.ndarray]) -> None:
    for layer, kernel in zip(dense_layers(model), kernels, strict=True):
        layer.kernel.assign(kernel)

