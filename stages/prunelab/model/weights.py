"""The network's kernels as plain numpy: the `.npz` format (saving, loading) and a log line.

A weights file is an ``.npz`` holding ``kernel_0`` ... ``kernel_<L-1>``, one per hidden layer
and the logits one last, each of shape (inputs, outputs) as Keras stores Dense kernels. The
network's shape is the kernels' own: nothing here assumes the default widths. Later stages read
it without TensorFlow.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from prunelab.wiring.atomic import write_files
from prunelab.wiring.errors import WeightsError


def hidden_widths(kernels: list[np.ndarray]) -> tuple[int, ...]:
    """The network's hidden widths: every kernel's outputs but the logits kernel's."""
    return tuple(int(kernel.shape[1]) for kernel in kernels[:-1])


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


def zero_counts(kernels: list[np.ndarray]) -> str:
    """``zeros/size`` of every kernel, for a stage's log line."""
    return ", ".join(f"{int(np.count_nonzero(kernel == 0))}/{kernel.size}" for kernel in kernels)
