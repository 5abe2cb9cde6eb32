"""The network's forward pass in plain numpy, and its accuracy and loss on a labelled set.

Apart from :mod:`prunelab.model.weights` (the ``.npz`` format), so that the stages that only
read and write kernels -- prune, reconstruct -- do not rerun when the evaluation arithmetic
changes.
"""

from __future__ import annotations

import numpy as np


def forward(kernels: list[np.ndarray], images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """Logits of the bias-free ReLU MLP: ReLU after every kernel but the last."""
    outputs = []
    for start in range(0, len(images), batch_size):
        activations = images[start : start + batch_size].astype(np.float32)
        for kernel in kernels[:-1]:
            activations = np.maximum(activations @ kernel, 0.0)
        outputs.append(activations @ kernels[-1])
    return np.concatenate(outputs) if outputs else np.zeros((0, kernels[-1].shape[1]), np.float32)


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
