"""How many bytes a network takes stored dense, compact (shrunk) or as CSR, raw and compressed.

Raw sizes count float32 values and int32 CSR indices and pointers; compressed sizes are what
``np.savez_compressed`` of the same arrays writes.
"""

from __future__ import annotations

import io

import numpy as np
import scipy.sparse


def csr_bytes(kernels: list[np.ndarray]) -> int:
    """Bytes of the non-zeros of every kernel stored as CSR (float32 values, int32 indices)."""
    total = 0
    for kernel in kernels:
        total += 4 * int(np.count_nonzero(kernel)) * 2 + 4 * (kernel.shape[0] + 1)
    return total


def compressed_bytes(arrays: dict[str, np.ndarray]) -> int:
    """Size of ``arrays`` written by ``np.savez_compressed`` (what a stored file would take)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getbuffer().nbytes


def csr_arrays(kernels: list[np.ndarray]) -> dict[str, np.ndarray]:
    """CSR arrays (``data``, ``indices`` int32, ``indptr`` int32) of every kernel, by name."""
    arrays: dict[str, np.ndarray] = {}
    for index, kernel in enumerate(kernels):
        matrix = scipy.sparse.csr_matrix(kernel)
        arrays[f"data_{index}"] = matrix.data.astype(np.float32)
        arrays[f"indices_{index}"] = matrix.indices.astype(np.int32)
        arrays[f"indptr_{index}"] = matrix.indptr.astype(np.int32)
        arrays[f"shape_{index}"] = np.asarray(kernel.shape, dtype=np.int32)
    return arrays


def storage_figures(kernels: list[np.ndarray], compact: list[np.ndarray]) -> dict[str, int]:
    """Bytes of the model stored dense, compact (shrunk) and as CSR, raw and compressed.

    ``kernels`` is the network as pruned, ``compact`` the same with its dead units removed
    (:func:`prunelab.speed.routes.base.compact`); the CSR figures are of ``compact``.
    """
    return {
        "dense_bytes_raw": int(sum(k.size for k in kernels) * 4),
        "compact_bytes_raw": int(sum(k.size for k in compact) * 4),
        "compact_bytes_compressed": compressed_bytes(
            {f"kernel_{i}": k for i, k in enumerate(compact)}
        ),
        "csr_bytes_raw": csr_bytes(compact),
        "csr_bytes_compressed": compressed_bytes(csr_arrays(compact)),
    }
