"""The ``scipy-csr`` route: scipy's CSR matrix product, layer by layer.

scipy's single-threaded CSR ``W^T @ A^T`` per layer -- the "transpose trick":
``X @ W = (W^T @ X^T)^T`` keeps the sparse operand on the left, where scipy's kernel streams
whole contiguous activation rows per non-zero.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from prunelab.speed.routes.base import Kernels, Route, Runner, as_float32, check_batch


def prepare_scipy_csr(kernels: Kernels) -> Runner:
    """scipy CSR ``W^T`` times the transposed activations, layer by layer (one thread)."""
    weights = as_float32(kernels)
    matrices = []
    for kernel in weights:
        matrix = scipy.sparse.csr_matrix(np.ascontiguousarray(kernel.T))
        matrix.sort_indices()
        matrices.append(matrix)
    inputs = weights[0].shape[0]

    def run(batch: np.ndarray) -> np.ndarray:
        activations = np.ascontiguousarray(check_batch(batch, inputs).T)
        for matrix in matrices[:-1]:
            activations = matrix @ activations
            np.maximum(activations, 0.0, out=activations)
        return np.ascontiguousarray((matrices[-1] @ activations).T)

    return run


SCIPY_CSR = Route("scipy-csr", "numpy", "sparse", prepare_scipy_csr,
                  "scipy CSR W^T @ A^T per layer (1 thread)")
