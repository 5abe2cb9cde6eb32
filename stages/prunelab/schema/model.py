"""The ``model`` section: the network's hidden widths. Its inputs and classes come from the
dataset (784 pixels, 10 classes for both), so ``hidden: [300, 100]`` is LeNet-300-100.

The caps keep every stage inside a 24 GiB machine with room to spare: the largest network
allowed has 40 million weights (160 MB of float32); training holds about four copies (weights,
gradients, Adam's two moments), and the benchmark a few more (CSR, LiteRT, TensorFlow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prunelab.data.datasets import CLASSES, PIXELS
from prunelab.wiring.params import Field, Section, is_int

MAX_DEPTH = 8
MAX_WIDTH = 8192
MAX_WEIGHTS = 40_000_000


@dataclass(frozen=True)
class ModelParams:
    hidden: tuple[int, ...]


def kernel_shapes(hidden: list[int] | tuple[int, ...]) -> list[tuple[int, int]]:
    """Every kernel's (inputs, outputs) of the network with these hidden widths: the dataset's
    pixels in, its classes out."""
    sizes = (PIXELS, *hidden, CLASSES)
    return list(zip(sizes[:-1], sizes[1:]))


def weight_count(hidden: list[int] | tuple[int, ...]) -> int:
    """The kernels' weights of the network with these hidden widths (no biases)."""
    return sum(inputs * outputs for inputs, outputs in kernel_shapes(hidden))


def _is_shape(value: Any) -> bool:
    return (
        isinstance(value, list)
        and 1 <= len(value) <= MAX_DEPTH
        and all(is_int(width) and 1 <= width <= MAX_WIDTH for width in value)
        and weight_count(value) <= MAX_WEIGHTS
    )


HIDDEN = Field(_is_shape, f"a list of 1 to {MAX_DEPTH} hidden widths, each an integer in "
                          f"[1, {MAX_WIDTH}], with at most {MAX_WEIGHTS:,} weights in all "
                          f"({PIXELS} inputs, {CLASSES} classes), e.g. [1000, 1000, 500, 200]")

MODEL = Section("model", {"hidden": HIDDEN}, ModelParams)
