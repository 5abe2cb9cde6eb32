"""The Keras model of a (compact) network: what ``export_compact`` saves and the ``tf`` route runs.

Needs Keras (so TensorFlow) but neither numba nor scipy; call
:func:`prunelab.wiring.entry.prepare_tensorflow` before importing it.
"""

from __future__ import annotations

from typing import Any

from prunelab.model.network import build_mlp, set_kernels
from prunelab.model.weights import LAYER_SIZES
from prunelab.speed.routes.base import Kernels, as_float32, hidden_sizes


def build_compact_keras(kernels: Kernels) -> Any:
    """A Keras model of these kernels' shapes (``build_mlp(hidden_sizes=...)``) holding them.

    For a :func:`prunelab.speed.routes.base.compact` unit-pruned network this is a real, smaller
    model: it can be saved with ``model.save("x.keras")`` and reloaded with
    ``keras.models.load_model`` (no custom objects needed).
    """
    weights = as_float32(kernels)
    if weights[0].shape[0] != LAYER_SIZES[0] or weights[-1].shape[1] != LAYER_SIZES[-1]:
        raise ValueError(f"build_mlp makes {LAYER_SIZES[0]} inputs and {LAYER_SIZES[-1]} logits; "
                         f"got kernels {weights[0].shape} ... {weights[-1].shape}")
    model = build_mlp(dropout=0.0, hidden_sizes=hidden_sizes(weights))
    set_kernels(model, weights)
    return model
