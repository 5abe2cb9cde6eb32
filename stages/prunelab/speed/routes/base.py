"""What every route shares: the :class:`Route` record, kernel and batch checks, compaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from prunelab.model.structure import shrink

Kernels = list[np.ndarray]
Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Route:
    """One way to execute the network.

    Attributes:
        name: key in :data:`prunelab.speed.routes.registry.ROUTES`.
        runtime: what executes it (``numpy``, ``tensorflow``, ``litert``, ``numba``); a route is
            compared with the dense model run by the dense routes of the same runtime.
        storage: ``"dense"`` (dense matrices: the dense model or a compact shrunk one) or
            ``"sparse"`` (only the non-zero weights are stored and multiplied).
        prepare: ``prepare(kernels) -> runner``.
        summary: one line on what it does.
    """

    name: str
    runtime: str
    storage: str
    prepare: Callable[[Kernels], Runner]
    summary: str


def compact(kernels: Kernels) -> Kernels:
    """The network with its dead hidden units physically removed (float32, same logits).

    Thin wrapper over :func:`prunelab.model.structure.shrink`; unit pruning at ``k`` % leaves a
    dense network about ``(1 - k/100)`` as wide in every hidden layer.
    """
    return [np.ascontiguousarray(k, dtype=np.float32) for k in shrink(as_float32(kernels))]


def as_float32(kernels: Kernels) -> Kernels:
    """The kernels as C-contiguous float32 arrays, after checking that they chain up."""
    arrays = [np.ascontiguousarray(k, dtype=np.float32) for k in kernels]
    if not arrays:
        raise ValueError("a network needs at least one kernel")
    for index, (left, right) in enumerate(zip(arrays[:-1], arrays[1:], strict=True)):
        if left.ndim != 2 or right.ndim != 2 or left.shape[1] != right.shape[0]:
            raise ValueError(f"kernels {index} and {index + 1} do not chain: "
                             f"{left.shape} then {right.shape}")
    return arrays


def check_batch(batch: np.ndarray, inputs: int) -> np.ndarray:
    """The batch as a C-contiguous float32 ``(n, inputs)`` array, or a ValueError."""
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    if batch.ndim != 2 or batch.shape[1] != inputs:
        raise ValueError(f"expected a batch of shape (n, {inputs}), got {batch.shape}")
    return batch


def layer_sizes(kernels: Kernels) -> np.ndarray:
    """The ``L + 1`` layer widths, inputs first, as int64."""
    return np.asarray([kernels[0].shape[0]] + [k.shape[1] for k in kernels], np.int64)


def csr_index_types(matrices: Kernels) -> tuple[type, type]:
    """``(column index, row pointer)`` integer types of the CSR routes' packed matrices: the
    narrowest unsigned types that hold every column number and non-zero count (uint16 and
    uint32 within the model schema's caps), so a visited non-zero reads 6 bytes, not 8."""
    columns = max(matrix.shape[1] for matrix in matrices)
    nonzeros = max(int(np.count_nonzero(matrix)) for matrix in matrices)
    return (np.uint16 if columns <= 1 << 16 else np.uint32,
            np.uint32 if nonzeros < 1 << 32 else np.uint64)
