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

from prunelab.wiring.atomic import write_files
from prunelab.wiring.errors import WeightsError

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


def zero_counts(kernels: list[np.ndarray]) -> str:
    """``zeros/size`` of every kernel, for a stage's log line."""
    return ", ".join(f"{int(np.count_nonzero(kernel == 0))}/{kernel.size}" for kernel in kernels)


def accuracy_and_loss(
    kernels: list[np.ndarray], images: np.ndarray, labels: np.ndarray
) -> tuple[float, float]:
    """Top-1 accuracy and mean cross-entropy (natural log) of the network on a labelled set.

    The logits come from :func:`forward` (float32, the same arithmetic for
    every stage that uses it). The loss is computed in float64 with a numerically stable
    log-softmax, ``z - max(z) - log(sum(exp(z - max(z))))``, so huge logits do not overflow;
    it is what Keras' ``SparseCategoricalCrossentropy(from_logits=True)`` averages. The
    predicted class is the first index of the largest logit (``np.argmax``), so all-equal
    logits predict class 0.

    Args:
        kernels: the network (see the module docstring).
        images: ``(count, inputs)`` array, ``count >= 1``.
        labels: ``(count,)`` integer class indices in ``[0, number of logits)``.

    Returns:
        ``(accuracy, loss)`` as Python floats.

    Raises:
        ValueError: on an empty set, mismatched lengths, or labels out of range.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{len(images)} images but labels of shape {labels.shape}")
    if len(labels) == 0:
        raise ValueError("accuracy and loss of an empty set are undefined")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    classes = np.asarray(kernels[-1]).shape[1]
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"labels must lie in [0, {classes}), got {labels.min()}..{labels.max()}")
    logits = forward(kernels, images).astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(log_probabilities[np.arange(len(labels)), labels].mean())
    accuracy = float(np.mean(np.argmax(logits, axis=1) == labels))
    return accuracy, loss
