"""Every route by name, in the order the benchmark runs and reports them."""

from __future__ import annotations

from prunelab.speed.routes.base import Kernels, Route, Runner
from prunelab.speed.routes.blas import NUMPY, NUMPY_1T
from prunelab.speed.routes.litert import LITERT, LITERT_SPARSE
from prunelab.speed.routes.numba_fused import NUMBA, NUMBA_CSR
from prunelab.speed.routes.scipy_csr import SCIPY_CSR
from prunelab.speed.routes.tensorflow_ops import TF, TF_CSR, TF_SPARSE

ROUTES: dict[str, Route] = {
    route.name: route
    for route in (NUMPY, NUMPY_1T, TF, LITERT, NUMBA,
                  SCIPY_CSR, NUMBA_CSR, TF_CSR, TF_SPARSE, LITERT_SPARSE)
}

DENSE_ROUTES = tuple(name for name, route in ROUTES.items() if route.storage == "dense")
SPARSE_ROUTES = tuple(name for name, route in ROUTES.items() if route.storage == "sparse")


def prepare(name: str, kernels: Kernels) -> Runner:
    """``ROUTES[name].prepare(kernels)`` with a helpful error for an unknown name."""
    try:
        route = ROUTES[name]
    except KeyError:
        raise ValueError(f"unknown route {name!r}: one of {', '.join(ROUTES)}") from None
    return route.prepare(kernels)
