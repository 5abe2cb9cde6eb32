"""The network's kernels as plain numpy: saving, loading, and a TensorFlow-free forward pass.

A weights file is an ``.npz`` holding ``kernel_0`` ... ``kernel_4``, each of shape
(inputs, outputs) as Keras stores Dense kernels. Later stages read it without TensorFlow.
"""

from __future__ import annotations

import io
import itertools
import zipfile
from pathlib import Path

import numpy as np

from prunelab.atomic import write_files

LAYER_SIZES = (784, 1000, 1000, 500, 200, 10)
KERNEL_SHAPES = tuple(itertools.pairwise(LAYER_SIZES))


def kernels_bytes(kernels: list[np.ndarray]) -> bytes:
    """The compressed ``.npz`` bytes of the kernels, as float32 ``kernel_0`` ... arrays."""
    arrays = {f"kernel_{i}": np.asarray(k, dtype=np.float32) for i, k in enumerate(kernels)}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def save_kernels(kernels: list[np.ndarray], path: Path) -> None:
    """Write the kernels to a compressed ``.npz``, atomically."""
    write_files({path: kernels_bytes(kernels)})


class WeightsError(ValueError):
    """A weights file that is missing, unreadable or empty; the message names it and the fix."""


def load_kernels(path: Path) -> list[np.ndarray]:
    """Read the kernels written by :func:`save_kernels`, in layer order.

    Raises :class:`WeightsError` for a missing, unreadable or kernel-less file, so every stage
    reports these the same way.
    """
    try:
        with np.load(path) as archive:
            count = sum(1 for key in archive.files if key.startswith("kernel_"))
            kernels = [archive[f"kernel_{i}"] for i in range(count)]
    except FileNotFoundError:
        raise WeightsError(f"{path} is missing: run `dvc repro` to build it") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise WeightsError(f"cannot read kernels from {path}: {error}") from None
    if not kernels:
        raise WeightsError(f"{path} holds no kernel_0 ... arrays")
    return kernels


def forward(kernels: list[np.ndarray], images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """Logits of the bias-free ReLU MLP: ReLU after every kernel but the last."""
    outputs = []
    for start in range(0, len(images), batch_size):
        activations = images[start : start + batch_size].astype(np.float32)
        for kernel in kernels[:-1]:
            activations = np.maximum(activations @ kernel, 0.0)
        outputs.append(activations @ kernels[-1])
    return np.concatenate(outputs) if outputs else np.zeros((0, kernels[-1].shape[1]), np.float32)
