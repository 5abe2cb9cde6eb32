"""The Keras model: the dataset's pixels in, the hidden widths (``model.hidden``; by default
784 -> 1000 -> 1000 -> 500 -> 200 -> 10), a ReLU after each hidden layer, no biases, logits out."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np

from prunelab.data.datasets import CLASSES, PIXELS
from prunelab.model.weights import hidden_widths


def build_mlp(hidden_sizes: tuple[int, ...], dropout: float = 0.0) -> keras.Model:
    """Build the MLP with these hidden widths; ``dropout`` (a rate, 0 = none) follows each hidden
    ReLU during training only.

    Dropout layers hold no weights, so the model's variables are exactly its kernels, one per
    hidden layer and the logits one.
    """
    inputs = keras.Input(shape=(PIXELS,), name="pixels")
    x = inputs
    for index, units in enumerate(hidden_sizes):
        x = keras.layers.Dense(units, activation="relu", use_bias=False, name=f"hidden_{index}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout_{index}")(x)
    logits = keras.layers.Dense(CLASSES, use_bias=False, name="logits")(x)
    return keras.Model(inputs, logits, name="mlp")


def dense_layers(model: keras.Model) -> list[keras.layers.Dense]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def kernel_variables(model: keras.Model) -> list[keras.Variable]:
    return [layer.kernel for layer in dense_layers(model)]


def get_kernels(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(layer.kernel.numpy()) for layer in dense_layers(model)]


def set_kernels(model: keras.Model, kernels: list[np.ndarray]) -> None:
    for layer, kernel in zip(dense_layers(model), kernels, strict=True):
        layer.kernel.assign(kernel)


class KeepMask(keras.constraints.Constraint):
    """A kernel constraint: the weights times a (0/1) mask variable."""

    def __init__(self, mask: keras.Variable) -> None:
        self.mask = mask

    def __call__(self, weights: Any) -> Any:
        return weights * self.mask


def masked_model(
    kernels: list[np.ndarray], masks: list[np.ndarray], dropout: float
) -> tuple[keras.Model, list[keras.Variable]]:
    """The MLP with ``kernels``, each kernel multiplied by its mask after every optimiser step.

    Keras applies a variable's constraint right after the optimiser updates it, so masked
    weights are zero at every step, not only at the end. The masks are variables so that
    gradual pruning can tighten them during training.
    """
    model = build_mlp(hidden_widths(kernels), dropout=dropout)
    masked = [np.where(m, k, 0).astype(np.float32) for k, m in zip(kernels, masks, strict=True)]
    set_kernels(model, masked)
    mask_variables = []
    for variable, mask in zip(kernel_variables(model), masks, strict=True):
        mask_variable = keras.Variable(mask.astype(np.float32), trainable=False)
        variable.constraint = KeepMask(mask_variable)
        mask_variables.append(mask_variable)
    return model, mask_variables


def keras_bytes(model: keras.Model) -> bytes:
    """The bytes of ``model`` saved as a ``.keras`` file (Keras writes only to a path)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()
