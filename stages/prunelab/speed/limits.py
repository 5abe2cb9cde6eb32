"""What a network's bytes allow at batch 1: its weights read once per image, at the read bandwidth
of the cache level that holds them, measured on this CPU.

At batch 1 every weight a route needs is read once per image and each is used for one
multiply-add, so a route cannot beat ``bytes read per image / read bandwidth``. The bytes read
are those left after zero-skipping: a layer whose input is exactly zero for a share ``z`` of its
units needs only ``1 - z`` of its weight rows (the numba routes skip them; a BLAS route reads
every row, so for it the limit is optimistic). The weights live, across calls, in the smallest
cache level that holds all of them (:func:`residence`); the bandwidth is that of one core
summing a float32 buffer of exactly the stored size, again and again (:func:`read_bandwidth`),
so a buffer that straddles two levels is measured as it is.

Compact (dense) storage reads 4 bytes per weight of the compact network; CSR storage a float32
value and a column index per non-zero plus each visited row's pointer, with the index and pointer
types the CSR routes pack (:func:`csr_index_types`: 2 and 4 bytes within the model schema's caps).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numba
import numpy as np

from prunelab.speed.routes.base import Kernels, csr_index_types

#: Where Linux describes the first CPU's caches.
CACHE_INFO = Path("/sys/devices/system/cpu/cpu0/cache")
#: Seconds of summing behind each bandwidth figure (median of that many timed rounds).
BANDWIDTH_ROUNDS = 15
BANDWIDTH_ROUND_S = 0.002


def cache_levels(root: Path = CACHE_INFO) -> dict[str, int]:
    """``{"L1": bytes, "L2": bytes, ...}``: the data (or unified) caches one core sees, smallest
    first; empty where the system does not say."""
    levels: dict[str, int] = {}
    for index in sorted(root.glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or not size[:-1].isdigit():
            continue
        scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1], 1)
        levels[f"L{level}"] = int(size[:-1]) * scale if size[-1] in "KM" else int(size)
    return dict(sorted(levels.items(), key=lambda item: item[1]))


def residence(nbytes: int, levels: dict[str, int]) -> str:
    """The smallest cache level of ``levels`` that holds ``nbytes``, else ``"DRAM"``."""
    return next((name for name, size in levels.items() if nbytes <= size), "DRAM")


# fastmath lets LLVM reorder the sum into vector lanes (an indexed loop: iterating the array
# directly stayed scalar, ~4 GB/s at every size here).
@numba.njit(cache=True, fastmath=True)
def _sum(values: np.ndarray, times: int) -> float:
    total = np.float32(0.0)
    for _ in range(times):
        for index in range(values.size):
            total += values[index]
    return total


def read_bandwidth(nbytes: int) -> float:
    """Bytes per second one core reads from a float32 buffer of ``nbytes`` it sums repeatedly
    (the median of :data:`BANDWIDTH_ROUNDS` rounds of about :data:`BANDWIDTH_ROUND_S` s)."""
    values = np.ones(max(1, nbytes // 4), np.float32)
    _sum(values, 1)
    start = time.perf_counter()
    _sum(values, 1)
    one = max(time.perf_counter() - start, 1e-9)
    times = max(1, int(BANDWIDTH_ROUND_S / one))
    rounds = []
    for _ in range(BANDWIDTH_ROUNDS):
        start = time.perf_counter()
        _sum(values, times)
        rounds.append((time.perf_counter() - start) / times)
    return values.nbytes / float(np.median(rounds))


def layer_bytes(compact_kernels: Kernels, storage: str) -> list[int]:
    """Bytes each layer's weights take in the routes' memory, for ``storage`` ``"compact"``
    (float32, every weight) or ``"csr"`` (a value and a column index per non-zero, a pointer per
    row and one more, with the types the CSR routes pack)."""
    if storage != "csr":
        return [4 * kernel.size for kernel in compact_kernels]
    index_type, pointer_type = csr_index_types(compact_kernels)
    index_bytes, pointer_bytes = np.dtype(index_type).itemsize, np.dtype(pointer_type).itemsize
    return [(4 + index_bytes) * int(np.count_nonzero(kernel))
            + pointer_bytes * (kernel.shape[0] + 1) for kernel in compact_kernels]


def bytes_read(compact_kernels: Kernels, zero_shares: list[float], storage: str) -> float:
    """Weight bytes a batch-1 call reads after zero-skipping (module docstring), for
    ``storage`` ``"compact"`` or ``"csr"``."""
    return sum((1.0 - zero) * stored for stored, zero in
               zip(layer_bytes(compact_kernels, storage), zero_shares, strict=True))


def limit_figures(compact_kernels: Kernels, zero_shares: list[float], stored_bytes: int,
                  storage: str, levels: dict[str, int], bandwidth: dict[int, float]
                  ) -> dict[str, Any]:
    """The batch-1 limit of one network in one storage: bytes stored and where they live, bytes
    read per image, the read bandwidth there and the latency it implies. ``bandwidth`` caches
    :func:`read_bandwidth` by stored size (networks of one shape share it)."""
    if stored_bytes not in bandwidth:
        bandwidth[stored_bytes] = read_bandwidth(stored_bytes)
    read = bytes_read(compact_kernels, zero_shares, storage)
    return {
        "stored_bytes": stored_bytes,
        "level": residence(stored_bytes, levels),
        "bytes_read_per_image": read,
        "bandwidth_gb_s": bandwidth[stored_bytes] / 1e9,
        "limit_us": read / bandwidth[stored_bytes] * 1e6,
    }
