"""Routes run by numba: one fused compiled pass over all layers (kernels in :mod:`.numba_kernels`).

* ``numba``: dense storage, sample by sample. Each layer runs as vectorised dot products with
  the rows of ``W^T`` or adds ``a_j * W[j, :]`` for its non-zero ``a_j`` only, whichever a cost
  model of this sample's zeros and the layer's width says is cheaper (wide layers after a ReLU,
  often 50-90 % zeros, add rows; narrow ones take dot products). Samples are split over the
  numba threads from :data:`PARALLEL_MIN_BATCH` on. Fast at small batches; BLAS wins at large
  ones.
* ``numba-csr``: sparse storage. Batches below :data:`TILE_MIN_BATCH` run sample by sample over
  a CSR of ``W`` (input-major): only non-zero activations are visited and each scatters its
  row's few non-zeros (scalar code, ~0.5 ns per non-zero visited here; gather-based variants
  vectorised with AVX-512 gathers measured slower). Larger batches are cut into tiles of
  :data:`TILE` samples, kept transposed (features x samples) in thread-local buffers, and every
  layer runs ``Y^T[i, :] += w * A^T[j, :]`` for the non-zeros of row ``i`` of a CSR of ``W^T``
  (a vectorised AXPY over the tile); tiles go to the numba threads and stay in cache through
  all layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse

from prunelab.speed.routes import numba_kernels
from prunelab.speed.routes.base import (
    Kernels,
    Route,
    Runner,
    as_float32,
    check_batch,
    csr_index_types,
    layer_sizes,
)

#: Batches of at least this many samples use the tiled (transposed) numba CSR kernel.
TILE_MIN_BATCH = 16
#: Samples per tile of the tiled numba CSR kernel.
TILE = 64
#: Smaller batches run on one thread in the numba routes: a parallel call costs ~1.5 us with
#: spinning OpenMP workers and ~60 us when they have gone to sleep.
PARALLEL_MIN_BATCH = 8


@dataclass(frozen=True)
class PackedCSR:
    """Every layer's CSR concatenated: layer ``l`` has ``indptr[ptr_offsets[l]:...]`` (local
    pointers, ``rows + 1`` of them) and non-zeros ``nz_offsets[l]:nz_offsets[l + 1]``."""

    sizes: np.ndarray  # int64 (L + 1,): widths, inputs first
    ptr_offsets: np.ndarray  # int64 (L,)
    nz_offsets: np.ndarray  # int64 (L + 1,)
    indptr: np.ndarray  # unsigned (no negative-index checks in the inner loops): uint32 ...
    indices: np.ndarray  # ... and uint16 within the model schema's caps (csr_index_types)
    data: np.ndarray  # float32

    @classmethod
    def pack(cls, matrices: list[np.ndarray], sizes: np.ndarray) -> PackedCSR:
        """Pack the CSR of each matrix (rows = what the kernel loops over); ``sizes``: widths."""
        index_type, pointer_type = csr_index_types(matrices)
        pointers, columns, values = [], [], []
        ptr_offsets, nz_offsets = [0], [0]
        for matrix in matrices:
            csr = scipy.sparse.csr_matrix(matrix)
            csr.sort_indices()
            pointers.append(csr.indptr.astype(pointer_type))
            columns.append(csr.indices.astype(index_type))
            values.append(csr.data.astype(np.float32))
            ptr_offsets.append(ptr_offsets[-1] + len(csr.indptr))
            nz_offsets.append(nz_offsets[-1] + csr.nnz)
        return cls(np.asarray(sizes, np.int64), np.asarray(ptr_offsets[:-1], np.int64),
                   np.asarray(nz_offsets, np.int64), np.concatenate(pointers),
                   np.concatenate(columns), np.concatenate(values))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.sizes, self.ptr_offsets, self.nz_offsets, self.indptr, self.indices,
                self.data)


def cache_line_rows(matrices: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``matrices`` one after the other in one flat float32 array whose every row starts on a
    64-byte cache line (rows :func:`numba_kernels.row_stride` floats apart, zeros between), and
    each matrix's offset in it."""
    blocks = [m.shape[0] * int(numba_kernels.row_stride(m.shape[1])) for m in matrices]
    offsets = np.cumsum([0] + blocks)[:-1].astype(np.int64)
    line = numba_kernels.ROW_ALIGN
    # numpy promises 16-byte alignment only: over-allocate, start at the first line boundary.
    spare = np.zeros(sum(blocks) + line, np.float32)
    flat = spare[(-spare.ctypes.data % (4 * line)) // 4:][: sum(blocks)]
    for matrix, offset in zip(matrices, offsets, strict=True):
        rows, width = matrix.shape
        stride = int(numba_kernels.row_stride(width))
        flat[offset: offset + rows * stride].reshape(rows, stride)[:, :width] = matrix
    return offsets, flat


def dense_operands(kernels: Kernels) -> tuple[np.ndarray, ...]:
    """What :func:`numba_kernels.dense_rows` takes before the batch: the widths, each layer's
    offset in the two flat arrays, and every ``W`` and every ``W^T`` one after the other, each
    row on its own cache lines (:func:`cache_line_rows`)."""
    weights = as_float32(kernels)
    offsets, flat = cache_line_rows(weights)
    offsets_t, flat_t = cache_line_rows([k.T for k in weights])
    return layer_sizes(weights), offsets, offsets_t, flat, flat_t


def prepare_numba(kernels: Kernels) -> Runner:
    """Fused dense numba pass skipping zero activations; samples split over numba threads."""
    operands = dense_operands(kernels)
    return _runner(operands[0], operands, numba_kernels.dense_rows,
                   numba_kernels.dense_rows_parallel)


def prepare_numba_csr(kernels: Kernels, tile: int = TILE,
                      tile_min_batch: int = TILE_MIN_BATCH) -> Runner:
    """Fused numba CSR: per-sample scatter for small batches, transposed tiles for large ones."""
    weights = as_float32(kernels)
    sizes = layer_sizes(weights)
    input_major = PackedCSR.pack(weights, sizes).arrays()  # rows = inputs: scatter kernel
    output_major = PackedCSR.pack([k.T for k in weights], sizes).arrays()  # tiled kernel

    def tiled(batch: np.ndarray, out: np.ndarray) -> None:
        numba_kernels.csr_tiled_parallel(*output_major, batch, out, tile)

    return _runner(sizes, input_major, numba_kernels.csr_rows, numba_kernels.csr_rows_parallel,
                   tiled, tile_min_batch)


Kernel = Callable[..., None]


def _runner(sizes: np.ndarray, operands: tuple[np.ndarray, ...], serial: Kernel,
            parallel: Kernel, tiled: Kernel | None = None,
            tile_min_batch: int = TILE_MIN_BATCH) -> Runner:
    """The runner of a fused kernel family: checks the batch, fills a fresh logits array.

    Batches from ``tile_min_batch`` on go to ``tiled(x, out)`` when given, from
    :data:`PARALLEL_MIN_BATCH` on to ``parallel(*operands, x, out, threads)`` (chunks over the
    numba threads), smaller ones to ``serial(*operands, x, out, 0, n)``.
    """
    inputs, outputs = int(sizes[0]), int(sizes[-1])

    def run(batch: np.ndarray) -> np.ndarray:
        batch = check_batch(batch, inputs)
        n = batch.shape[0]
        out = np.empty((n, outputs), np.float32)
        if tiled is not None and n >= tile_min_batch:
            tiled(batch, out)
        elif n >= PARALLEL_MIN_BATCH:
            parallel(*operands, batch, out, numba.get_num_threads())
        else:
            serial(*operands, batch, out, 0, n)
        return out

    return run


NUMBA = Route("numba", "numba", "dense", prepare_numba,
              "fused numba pass skipping zero activations, samples over threads")
NUMBA_CSR = Route("numba-csr", "numba", "sparse", prepare_numba_csr,
                  "fused numba CSR: per-sample scatter (small n), transposed tiles over threads")
