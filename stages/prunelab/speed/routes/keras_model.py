"""The Keras model of a (compact) network: what ``export_compact`` saves and the ``tf`` route runs.

Needs Keras (so TensorFlow) but neither numba nor scipy; call
:func:`prunelab.wiring.entry.prepare_tensorflow` before importing it.
"""

from __future__ import annotations

from typing import Any

from prunelab.model.network import build_mlp, kernel_variables, set_kernels
from prunelab.model.weights import hidden_widths
from prunelab.speed.routes.base import Kernels, as_float32


def build_compact_keras(kernels: Kernels) -> Any:
    """A Keras model of these kernels' shapes (``build_mlp`` of their hidden widths) holding them.

    For a :func:`prunelab.speed.routes.base.compact` unit-pruned network this is a real, smaller
    model: it can be saved with ``model.save("x.keras")`` and reloaded with
    ``keras.models.load_model`` (no custom objects needed).
    """
    weights = as_float32(kernels)
    model = build_mlp(hidden_widths(weights))
    expected = [tuple(variable.shape) for variable in kernel_variables(model)]
    if [weight.shape for weight in weights] != expected:
        raise ValueError(f"build_mlp makes kernels {expected} (the dataset's inputs and "
                         f"classes); got {[weight.shape for weight in weights]}")
    set_kernels(model, weights)
    return model
