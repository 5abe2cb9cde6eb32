"""The network shapes the tests run on, and random networks of them (``kernel_shapes`` is the
schema's own).

The default widths are read from the project's params.yaml, never repeated here; the other
shapes are LeNet-300-100 (the classic pruning benchmark's) and a network of one hidden layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from prunelab.schema.model import kernel_shapes

DEFAULT_HIDDEN: tuple[int, ...] = tuple(yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "params.yaml").read_text())["model"]["hidden"])
HIDDEN_SHAPES: dict[str, tuple[int, ...]] = {
    "default": DEFAULT_HIDDEN, "lenet-300-100": (300, 100), "one-hidden": (64,)}


def he_kernels(rng: np.random.Generator, hidden: tuple[int, ...] = DEFAULT_HIDDEN
               ) -> list[np.ndarray]:
    """Float32 kernels drawn He-normal (a ReLU network's scale, as Keras' initialisers keep it)."""
    return [(rng.normal(size=shape) * np.sqrt(2 / shape[0])).astype(np.float32)
            for shape in kernel_shapes(hidden)]
