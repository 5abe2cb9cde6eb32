"""Routes on numpy's BLAS: the dense float32 matrix-product chain.

* ``numpy`` / ``numpy-1t``: the chain on numpy's OpenBLAS with two threads / one thread (the
  BLAS thread count is set by each call; both are measured because on two vCPUs a second BLAS
  thread can hurt as often as help).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from prunelab.speed.routes.base import Kernels, Route, Runner, as_float32, check_batch

_BLAS_CONTROLLERS: list[Any] | None = None


def _blas_controllers() -> list[Any]:
    """threadpoolctl controllers of the BLAS libraries loaded in this process (numpy's first)."""
    global _BLAS_CONTROLLERS
    if _BLAS_CONTROLLERS is None:
        import threadpoolctl

        np.ones((2, 2), np.float32) @ np.ones((2, 2), np.float32)  # make sure BLAS is loaded
        _BLAS_CONTROLLERS = list(threadpoolctl.ThreadpoolController().select(user_api="blas")
                                 .lib_controllers)
    return _BLAS_CONTROLLERS


def set_blas_threads(threads: int) -> None:
    """Set the thread count of every loaded BLAS (a cheap C call through threadpoolctl)."""
    for controller in _blas_controllers():
        controller.set_num_threads(threads)


def prepare_numpy(kernels: Kernels, threads: int | None = 2) -> Runner:
    """Dense float32 matrix-product chain on numpy's BLAS with ``threads`` threads (None: as is)."""
    weights = as_float32(kernels)
    inputs = weights[0].shape[0]
    if threads is not None:
        _blas_controllers()

    def run(batch: np.ndarray) -> np.ndarray:
        if threads is not None:
            set_blas_threads(threads)
        activations = check_batch(batch, inputs)
        for kernel in weights[:-1]:
            activations = activations @ kernel
            np.maximum(activations, 0.0, out=activations)
        return activations @ weights[-1]

    return run


NUMPY = Route("numpy", "numpy", "dense", functools.partial(prepare_numpy, threads=2),
              "float32 matmul chain, OpenBLAS with 2 threads")
NUMPY_1T = Route("numpy-1t", "numpy", "dense", functools.partial(prepare_numpy, threads=1),
                 "float32 matmul chain, OpenBLAS with 1 thread")
