"""Ways to run the MLP's forward pass on a CPU -- dense, compact and sparse -- behind one interface.

Every route is a pair ``prepare(kernels) -> runner`` where ``kernels`` is the network as
:mod:`prunelab.weights` stores it (float32 ``(inputs, outputs)`` matrices, bias-free, ReLU after
every kernel but the last) and ``runner(batch)`` maps a float32 ``(n, inputs)`` array to float32
``(n, outputs)`` logits equal to :func:`prunelab.weights.forward` up to float32 rounding (the
routes sum the same products in other orders). :data:`ROUTES` holds them by name.

Routes take the kernels as given. Callers normally pass :func:`compact` of a pruned network
first: it physically removes dead hidden units (:func:`prunelab.sparsity.shrink`), which turns a
unit-pruned network into a genuinely smaller dense one and trims a weight-pruned one.

Dense-storage routes (the dense model, or the compact shrunk model of unit pruning):

* ``numpy`` / ``numpy-1t``: the float32 matrix-product chain on numpy's OpenBLAS with two
  threads / one thread (the BLAS thread count is set by each call; both are measured because on
  two vCPUs a second BLAS thread can hurt as often as help).
* ``tf``: a real Keras model (:func:`build_compact_keras`, i.e. ``build_mlp(hidden_sizes=...)``
  plus the kernels, savable as ``.keras``) called inside one ``tf.function`` with a fixed input
  signature (no retracing per batch size). TensorFlow's ~0.1-0.4 ms per-call dispatch
  dominates small batches.
* ``litert``: the same graph converted to a LiteRT (TensorFlow Lite) flatbuffer and run by
  ``ai_edge_litert``'s interpreter (XNNPACK) with one thread (two were erratic on two vCPUs).
  Very light per call, so it shines at batch 1 on small models.
* ``numba``: one fused numba-compiled pass over all layers, sample by sample. A layer whose
  input is mostly non-zero (the pixels) runs as vectorised dot products with the rows of
  ``W^T``; a mostly-zero one (after a ReLU, often 50-75 % zeros) adds ``a_j * W[j, :]`` for its
  non-zero ``a_j`` only. Samples are split over the numba threads from
  :data:`PARALLEL_MIN_BATCH` on. Fast at small batches; BLAS wins at large ones.

Sparse-storage routes (weight pruning), all in float32:

* ``tf-sparse``: ``tf.sparse.sparse_dense_matmul`` with COO ``W^T`` on the transposed
  activations (TensorFlow's own public sparse op; single-threaded and slow beyond small batches,
  measured honestly).
* ``tf-csr``: TensorFlow's CSR kernels (``SparseMatrixMatMul`` via the non-public
  ``tensorflow.python.ops.linalg.sparse`` helpers), CSR ``W^T`` times transposed activations.
  oneDNN's sparse matmul is opt-in with ``TF_ENABLE_ONEDNN_SPMM=1`` before TensorFlow is
  imported (about 2x faster at batch 1 here); the benchmark sets it.
* ``scipy-csr``: scipy's single-threaded CSR ``W^T @ A^T`` per layer -- the "transpose trick":
  ``X @ W = (W^T @ X^T)^T`` keeps the sparse operand on the left, where scipy's kernel streams
  whole contiguous activation rows per non-zero.
* ``numba-csr``: fused numba kernels over all layers. Batches below :data:`TILE_MIN_BATCH` run
  sample by sample over a CSR of ``W`` (input-major): only non-zero activations are visited and
  each scatters its row's few non-zeros (scalar code, ~0.5 ns per non-zero visited here;
  gather-based variants vectorised with AVX-512 gathers measured slower). Larger batches
  are cut into tiles of :data:`TILE` samples, kept transposed (features x samples) in
  thread-local buffers, and every layer runs ``Y^T[i, :] += w * A^T[j, :]`` for the non-zeros
  of row ``i`` of a CSR of ``W^T`` (a vectorised AXPY over the tile); tiles go to the numba
  threads and stay in cache through all layers.
* ``litert-sparse``: LiteRT with ``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``. LiteRT only runs a
  truly sparse FULLY_CONNECTED kernel when the pattern is sparse enough (random patterns: ~99 %);
  otherwise it densifies at load (a size win only). Hidden widths are zero-padded to a multiple
  of 4 first: with shrunk widths such as 521 or 326 the sparse kernel of ai-edge-litert 2.3.0
  returned wrong logits for some inputs (errors up to ~0.6 on one layer; checked here).

The numba routes compile on first use (cached on disk next to this file when possible).
TensorFlow and LiteRT are imported only when a route needing them is prepared.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import scipy.sparse

Kernels = list[np.ndarray]
Runner = Callable[[np.ndarray], np.ndarray]

#: Batches of at least this many samples use the tiled (transposed) numba CSR kernel.
TILE_MIN_BATCH = 16
#: Samples per tile of the tiled numba CSR kernel.
TILE = 64
#: Smaller batches run on one thread in the numba routes: a parallel call costs ~1.5 us with
#: spinning OpenMP workers and ~60 us when they have gone to sleep.
PARALLEL_MIN_BATCH = 8
#: Hidden widths are padded to a multiple of this for ``litert-sparse`` (see module docstring).
LITERT_SPARSE_WIDTH_MULTIPLE = 4


@dataclass(frozen=True)
class Route:
    """One way to execute the network.

    Attributes:
        name: key in :data:`ROUTES`.
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


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def compact(kernels: Kernels) -> Kernels:
    """The network with its dead hidden units physically removed (float32, same logits).

    Thin wrapper over :func:`prunelab.sparsity.shrink`; unit pruning at ``k`` % leaves a dense
    network about ``(1 - k/100)`` as wide in every hidden layer.
    """
    from prunelab.sparsity import shrink

    return [np.ascontiguousarray(k, dtype=np.float32) for k in shrink(_as_float32(kernels))]


def _as_float32(kernels: Kernels) -> Kernels:
    arrays = [np.ascontiguousarray(k, dtype=np.float32) for k in kernels]
    if not arrays:
        raise ValueError("a network needs at least one kernel")
    for index, (left, right) in enumerate(zip(arrays[:-1], arrays[1:])):
        if left.ndim != 2 or right.ndim != 2 or left.shape[1] != right.shape[0]:
            raise ValueError(f"kernels {index} and {index + 1} do not chain: "
                             f"{left.shape} then {right.shape}")
    return arrays


def _check_batch(batch: np.ndarray, inputs: int) -> np.ndarray:
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    if batch.ndim != 2 or batch.shape[1] != inputs:
        raise ValueError(f"expected a batch of shape (n, {inputs}), got {batch.shape}")
    return batch


def hidden_sizes(kernels: Kernels) -> tuple[int, ...]:
    """Widths of the hidden layers (outputs of every kernel but the last)."""
    return tuple(int(k.shape[1]) for k in kernels[:-1])


def csr_bytes(kernels: Kernels) -> int:
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


def csr_arrays(kernels: Kernels) -> dict[str, np.ndarray]:
    """CSR arrays (``data``, ``indices`` int32, ``indptr`` int32) of every kernel, by name."""
    arrays: dict[str, np.ndarray] = {}
    for index, kernel in enumerate(kernels):
        matrix = scipy.sparse.csr_matrix(kernel)
        arrays[f"data_{index}"] = matrix.data.astype(np.float32)
        arrays[f"indices_{index}"] = matrix.indices.astype(np.int32)
        arrays[f"indptr_{index}"] = matrix.indptr.astype(np.int32)
        arrays[f"shape_{index}"] = np.asarray(kernel.shape, dtype=np.int32)
    return arrays


# --------------------------------------------------------------------------------------------
# numpy
# --------------------------------------------------------------------------------------------

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
    weights = _as_float32(kernels)
    inputs = weights[0].shape[0]
    if threads is not None:
        _blas_controllers()

    def run(batch: np.ndarray) -> np.ndarray:
        if threads is not None:
            set_blas_threads(threads)
        activations = _check_batch(batch, inputs)
        for kernel in weights[:-1]:
            activations = activations @ kernel
            np.maximum(activations, 0.0, out=activations)
        return activations @ weights[-1]

    return run


# --------------------------------------------------------------------------------------------
# TensorFlow / Keras
# --------------------------------------------------------------------------------------------


def build_compact_keras(kernels: Kernels):
    """A Keras model of these kernels' shapes (``build_mlp(hidden_sizes=...)``) holding them.

    For a :func:`compact` unit-pruned network this is a real, smaller model: it can be saved
    with ``model.save("x.keras")`` and reloaded with ``keras.models.load_model`` (no custom
    objects needed).
    """
    from prunelab.model import build_mlp, set_kernels
    from prunelab.weights import LAYER_SIZES

    weights = _as_float32(kernels)
    if weights[0].shape[0] != LAYER_SIZES[0] or weights[-1].shape[1] != LAYER_SIZES[-1]:
        raise ValueError(f"build_mlp makes {LAYER_SIZES[0]} inputs and {LAYER_SIZES[-1]} logits; "
                         f"got kernels {weights[0].shape} ... {weights[-1].shape}")
    model = build_mlp(dropout=0.0, hidden_sizes=hidden_sizes(weights))
    set_kernels(model, weights)
    return model


def keras_runner(model: Any) -> Runner:
    """Run a Keras model's call (inference mode) inside one ``tf.function``, fixed signature."""
    import tensorflow as tf

    inputs = int(model.inputs[0].shape[-1])
    call = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([None, inputs], tf.float32)],
        autograph=False,
    )

    def run(batch: np.ndarray) -> np.ndarray:
        return call(tf.constant(_check_batch(batch, inputs))).numpy()

    return run


def prepare_tf(kernels: Kernels) -> Runner:
    """The Keras model of these kernels (:func:`build_compact_keras`) in a ``tf.function``."""
    return keras_runner(build_compact_keras(kernels))


def _transposed_tf_chain(tf: Any, matmul: Callable[[Any, Any], Any], operands: list[Any],
                         inputs: int) -> Runner:
    """``tf.function`` running ``A^T <- relu(matmul(op_l, A^T))`` layer by layer."""

    def chain(x):
        activations = tf.transpose(x)
        for operand in operands[:-1]:
            activations = tf.nn.relu(matmul(operand, activations))
        return tf.transpose(matmul(operands[-1], activations))

    call = tf.function(chain, input_signature=[tf.TensorSpec([None, inputs], tf.float32)],
                       autograph=False)

    def run(batch: np.ndarray) -> np.ndarray:
        return call(tf.constant(_check_batch(batch, inputs))).numpy()

    return run


def prepare_tf_sparse(kernels: Kernels) -> Runner:
    """``tf.sparse.sparse_dense_matmul`` of COO ``W^T`` (int64 indices) and the activations^T."""
    import tensorflow as tf

    weights = _as_float32(kernels)
    operands = []
    for kernel in weights:
        transposed = kernel.T
        positions = np.argwhere(transposed != 0).astype(np.int64)  # row-major = canonical order
        values = transposed[transposed != 0].astype(np.float32)
        operands.append(tf.SparseTensor(positions, values, transposed.shape))
    return _transposed_tf_chain(tf, tf.sparse.sparse_dense_matmul, operands, weights[0].shape[0])


def prepare_tf_csr(kernels: Kernels) -> Runner:
    """TensorFlow's CSR ``SparseMatrixMatMul`` of CSR ``W^T`` and the activations^T."""
    import tensorflow as tf
    from tensorflow.python.ops.linalg.sparse import sparse_csr_matrix_ops as csr_ops

    weights = _as_float32(kernels)
    operands = [csr_ops.CSRSparseMatrix(tf.constant(np.ascontiguousarray(k.T))) for k in weights]
    return _transposed_tf_chain(tf, csr_ops.matmul, operands, weights[0].shape[0])


# --------------------------------------------------------------------------------------------
# LiteRT
# --------------------------------------------------------------------------------------------


def litert_flatbuffer(kernels: Kernels, sparse: bool = False) -> bytes:
    """Convert the network (weights as constants) to a LiteRT flatbuffer.

    ``sparse=True`` asks the converter to store sparse weights
    (``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``); pass widths that are multiples of
    :data:`LITERT_SPARSE_WIDTH_MULTIPLE` (see :func:`pad_hidden_widths`).
    """
    import tensorflow as tf

    weights = _as_float32(kernels)
    constants = [tf.constant(k) for k in weights]

    def chain(x):
        activations = x
        for constant in constants[:-1]:
            activations = tf.nn.relu(tf.matmul(activations, constant))
        return tf.matmul(activations, constants[-1])

    function = tf.function(chain, autograph=False,
                           input_signature=[tf.TensorSpec([None, weights[0].shape[0]], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()])
    if sparse:
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return converter.convert()


def litert_runner(flatbuffer: bytes, threads: int = 1) -> Runner:
    """Run a LiteRT flatbuffer; the input is resized (and tensors reallocated) when n changes."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
    input_detail = interpreter.get_input_details()[0]
    input_index = input_detail["index"]
    inputs = int(input_detail["shape_signature"][-1])
    output_index = interpreter.get_output_details()[0]["index"]
    allocated = [-1]

    def run(batch: np.ndarray) -> np.ndarray:
        batch = _check_batch(batch, inputs)
        if batch.shape[0] != allocated[0]:
            interpreter.resize_tensor_input(input_index, batch.shape)
            interpreter.allocate_tensors()
            allocated[0] = batch.shape[0]
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    return run


def pad_hidden_widths(kernels: Kernels, multiple: int) -> Kernels:
    """Zero-pad every hidden width up to a multiple of ``multiple`` (the logits are unchanged).

    The added units read nothing and are read by nothing, so they always output zero.
    """
    padded = _as_float32(kernels)
    for layer in range(len(padded) - 1):
        extra = (-padded[layer].shape[1]) % multiple
        if extra:
            padded[layer] = np.pad(padded[layer], ((0, 0), (0, extra)))
            padded[layer + 1] = np.pad(padded[layer + 1], ((0, extra), (0, 0)))
    return padded


def prepare_litert(kernels: Kernels) -> Runner:
    """Dense LiteRT (XNNPACK), one thread."""
    return litert_runner(litert_flatbuffer(kernels), threads=1)


def prepare_litert_sparse(kernels: Kernels) -> Runner:
    """LiteRT with sparse weights (EXPERIMENTAL_SPARSITY), widths padded to a multiple of 4."""
    padded = pad_hidden_widths(kernels, LITERT_SPARSE_WIDTH_MULTIPLE)
    return litert_runner(litert_flatbuffer(padded, sparse=True), threads=1)


# --------------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------------
# Layers are packed into flat arrays so one compiled function handles any depth and widths:
# ``sizes`` holds the L + 1 widths, layer l's pieces start at ``offsets[l]`` of the flat arrays.
# Pointers and indices are unsigned and inner loops run over slices, so numba emits no
# negative-index fix-ups (they cost ~25 % at batch 1) and LLVM vectorises the AXPYs (fastmath
# lets it reorder the float sums).

_JIT = {"nogil": True, "fastmath": True, "cache": True, "boundscheck": False}


@numba.njit(**_JIT)
def _max_width(sizes):
    width = 0
    for size in sizes:
        width = max(width, size)
    return width


@numba.njit(**_JIT)
def _dense_rows(sizes, offsets, weights, weights_t, x, out, start, stop):
    """Samples ``start:stop`` through every layer, one sample at a time.

    A layer whose input is at least half non-zero runs as dot products with the rows of
    ``W^T`` (contiguous, vectorised, no stores in the loop); a sparser one (typical after a
    ReLU) as ``b += a_j * W[j, :]`` over its non-zero ``a_j`` only.
    """
    layers = sizes.shape[0] - 1
    width = _max_width(sizes)
    a = np.empty(width, np.float32)
    b = np.empty(width, np.float32)
    for sample in range(start, stop):
        a[: sizes[0]] = x[sample]
        for layer in range(layers):
            n_in = sizes[layer]
            n_out = sizes[layer + 1]
            base = offsets[layer]
            target = b[:n_out]
            source = a[:n_in]
            nonzero = 0
            for j in range(n_in):
                nonzero += source[j] != 0.0
            if 2 * nonzero >= n_in:
                for i in range(n_out):
                    row = weights_t[base + i * n_in: base + (i + 1) * n_in]
                    total = np.float32(0.0)
                    for j in range(n_in):
                        total += row[j] * source[j]
                    target[i] = total
            else:
                target[:] = 0.0
                for j in range(n_in):
                    value = source[j]
                    if value != 0.0:
                        row = weights[base + j * n_out: base + (j + 1) * n_out]
                        for i in range(n_out):
                            target[i] += value * row[i]
            if layer < layers - 1:
                for i in range(n_out):
                    target[i] = max(target[i], np.float32(0.0))
            a, b = b, a
        out[sample, :] = a[: sizes[layers]]


@numba.njit(parallel=True, **_JIT)
def _dense_rows_parallel(sizes, offsets, weights, weights_t, x, out, chunks):
    n = x.shape[0]
    for chunk in numba.prange(chunks):
        _dense_rows(sizes, offsets, weights, weights_t, x, out,
                    chunk * n // chunks, (chunk + 1) * n // chunks)


@numba.njit(**_JIT)
def _csr_rows(sizes, ptr_offsets, nz_offsets, indptr, indices, data, x, out, start, stop):
    """Samples ``start:stop`` over an input-major CSR: scatter each non-zero activation's row."""
    layers = sizes.shape[0] - 1
    width = _max_width(sizes)
    a = np.empty(width, np.float32)
    b = np.empty(width, np.float32)
    for sample in range(start, stop):
        a[: sizes[0]] = x[sample]
        for layer in range(layers):
            n_in = sizes[layer]
            n_out = sizes[layer + 1]
            pointers = indptr[ptr_offsets[layer]: ptr_offsets[layer] + n_in + 1]
            columns = indices[nz_offsets[layer]: nz_offsets[layer + 1]]
            values = data[nz_offsets[layer]: nz_offsets[layer + 1]]
            target = b[:n_out]
            target[:] = 0.0
            for j in range(n_in):
                value = a[j]
                if value != 0.0:
                    for p in range(pointers[j], pointers[j + 1]):
                        target[columns[p]] += value * values[p]
            if layer < layers - 1:
                for i in range(n_out):
                    target[i] = max(target[i], np.float32(0.0))
            a, b = b, a
        out[sample, :] = a[: sizes[layers]]


@numba.njit(parallel=True, **_JIT)
def _csr_rows_parallel(sizes, ptr_offsets, nz_offsets, indptr, indices, data, x, out, chunks):
    n = x.shape[0]
    for chunk in numba.prange(chunks):
        _csr_rows(sizes, ptr_offsets, nz_offsets, indptr, indices, data, x, out,
                  chunk * n // chunks, (chunk + 1) * n // chunks)


@numba.njit(**_JIT)
def _csr_tile(sizes, ptr_offsets, nz_offsets, indptr, indices, data, x, out, start, count,
              a, b):
    """Samples ``start:start+count`` kept transposed; output-major CSR (rows of ``W^T``)."""
    layers = sizes.shape[0] - 1
    for t in range(count):
        row = x[start + t]
        for j in range(sizes[0]):
            a[j * count + t] = row[j]
    for layer in range(layers):
        n_out = sizes[layer + 1]
        pointers = indptr[ptr_offsets[layer]: ptr_offsets[layer] + n_out + 1]
        columns = indices[nz_offsets[layer]: nz_offsets[layer + 1]]
        values = data[nz_offsets[layer]: nz_offsets[layer + 1]]
        for i in range(n_out):
            target = b[i * count: (i + 1) * count]
            target[:] = 0.0
            for p in range(pointers[i], pointers[i + 1]):
                value = values[p]
                source_start = np.int64(columns[p]) * count
                source = a[source_start: source_start + count]
                for t in range(count):
                    target[t] += value * source[t]
            if layer < layers - 1:
                for t in range(count):
                    target[t] = max(target[t], np.float32(0.0))
        a, b = b, a
    for t in range(count):
        row = out[start + t]
        for i in range(sizes[layers]):
            row[i] = a[i * count + t]


@numba.njit(parallel=True, **_JIT)
def _csr_tiled_parallel(sizes, ptr_offsets, nz_offsets, indptr, indices, data, x, out, tile):
    n = x.shape[0]
    width = _max_width(sizes)
    tiles = (n + tile - 1) // tile
    for index in numba.prange(tiles):
        start = index * tile
        count = min(tile, n - start)
        a = np.empty(width * count, np.float32)
        b = np.empty(width * count, np.float32)
        _csr_tile(sizes, ptr_offsets, nz_offsets, indptr, indices, data, x, out, start, count,
                  a, b)


@dataclass(frozen=True)
class PackedCSR:
    """Every layer's CSR concatenated: layer ``l`` has ``indptr[ptr_offsets[l]:...]`` (local
    pointers, ``rows + 1`` of them) and non-zeros ``nz_offsets[l]:nz_offsets[l + 1]``."""

    sizes: np.ndarray  # int64 (L + 1,): widths, inputs first
    ptr_offsets: np.ndarray  # int64 (L,)
    nz_offsets: np.ndarray  # int64 (L + 1,)
    indptr: np.ndarray  # uint64 (unsigned: no negative-index checks in the inner loops)
    indices: np.ndarray  # uint32
    data: np.ndarray  # float32

    @classmethod
    def pack(cls, matrices: list[np.ndarray], sizes: np.ndarray) -> PackedCSR:
        """Pack the CSR of each matrix (rows = what the kernel loops over); ``sizes``: widths."""
        pointers, columns, values = [], [], []
        ptr_offsets, nz_offsets = [0], [0]
        for matrix in matrices:
            csr = scipy.sparse.csr_matrix(matrix)
            csr.sort_indices()
            pointers.append(csr.indptr.astype(np.uint64))
            columns.append(csr.indices.astype(np.uint32))
            values.append(csr.data.astype(np.float32))
            ptr_offsets.append(ptr_offsets[-1] + len(csr.indptr))
            nz_offsets.append(nz_offsets[-1] + csr.nnz)
        return cls(np.asarray(sizes, np.int64), np.asarray(ptr_offsets[:-1], np.int64),
                   np.asarray(nz_offsets, np.int64), np.concatenate(pointers),
                   np.concatenate(columns), np.concatenate(values))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.sizes, self.ptr_offsets, self.nz_offsets, self.indptr, self.indices,
                self.data)


def prepare_numba(kernels: Kernels) -> Runner:
    """Fused dense numba pass skipping zero activations; samples split over numba threads."""
    weights = _as_float32(kernels)
    sizes = np.asarray([weights[0].shape[0]] + [k.shape[1] for k in weights], np.int64)
    offsets = np.cumsum([0] + [k.size for k in weights])[:-1].astype(np.int64)
    flat = np.concatenate([k.ravel() for k in weights] + [np.zeros(0, np.float32)])
    flat_t = np.concatenate([k.T.ravel() for k in weights] + [np.zeros(0, np.float32)])
    inputs, outputs = int(sizes[0]), int(sizes[-1])

    def run(batch: np.ndarray) -> np.ndarray:
        batch = _check_batch(batch, inputs)
        n = batch.shape[0]
        out = np.empty((n, outputs), np.float32)
        if n >= PARALLEL_MIN_BATCH:
            _dense_rows_parallel(sizes, offsets, flat, flat_t, batch, out,
                                 numba.get_num_threads())
        else:
            _dense_rows(sizes, offsets, flat, flat_t, batch, out, 0, n)
        return out

    return run


def prepare_numba_csr(kernels: Kernels, tile: int = TILE,
                      tile_min_batch: int = TILE_MIN_BATCH) -> Runner:
    """Fused numba CSR: per-sample scatter for small batches, transposed tiles for large ones."""
    weights = _as_float32(kernels)
    sizes = np.asarray([weights[0].shape[0]] + [k.shape[1] for k in weights], np.int64)
    input_major = PackedCSR.pack(weights, sizes).arrays()  # rows = inputs: scatter kernel
    output_major = PackedCSR.pack([k.T for k in weights], sizes).arrays()  # tiled kernel
    inputs, outputs = int(sizes[0]), int(sizes[-1])

    def run(batch: np.ndarray) -> np.ndarray:
        batch = _check_batch(batch, inputs)
        n = batch.shape[0]
        out = np.empty((n, outputs), np.float32)
        if n >= tile_min_batch:
            _csr_tiled_parallel(*output_major, batch, out, tile)
        elif n >= PARALLEL_MIN_BATCH:
            _csr_rows_parallel(*input_major, batch, out, numba.get_num_threads())
        else:
            _csr_rows(*input_major, batch, out, 0, n)
        return out

    return run


# --------------------------------------------------------------------------------------------
# scipy
# --------------------------------------------------------------------------------------------


def prepare_scipy_csr(kernels: Kernels) -> Runner:
    """scipy CSR ``W^T`` times the transposed activations, layer by layer (one thread)."""
    weights = _as_float32(kernels)
    matrices = []
    for kernel in weights:
        matrix = scipy.sparse.csr_matrix(np.ascontiguousarray(kernel.T))
        matrix.sort_indices()
        matrices.append(matrix)
    inputs = weights[0].shape[0]

    def run(batch: np.ndarray) -> np.ndarray:
        activations = np.ascontiguousarray(_check_batch(batch, inputs).T)
        for matrix in matrices[:-1]:
            activations = matrix @ activations
            np.maximum(activations, 0.0, out=activations)
        return np.ascontiguousarray((matrices[-1] @ activations).T)

    return run


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

ROUTES: dict[str, Route] = {
    route.name: route
    for route in (
        Route("numpy", "numpy", "dense", lambda k: prepare_numpy(k, threads=2),
              "float32 matmul chain, OpenBLAS with 2 threads"),
        Route("numpy-1t", "numpy", "dense", lambda k: prepare_numpy(k, threads=1),
              "float32 matmul chain, OpenBLAS with 1 thread"),
        Route("tf", "tensorflow", "dense", prepare_tf,
              "Keras model (build_mlp of these shapes) called in a tf.function"),
        Route("litert", "litert", "dense", prepare_litert,
              "LiteRT flatbuffer, XNNPACK, 1 thread"),
        Route("numba", "numba", "dense", prepare_numba,
              "fused numba pass skipping zero activations, samples over threads"),
        Route("scipy-csr", "numpy", "sparse", prepare_scipy_csr,
              "scipy CSR W^T @ A^T per layer (1 thread)"),
        Route("numba-csr", "numba", "sparse", prepare_numba_csr,
              "fused numba CSR: per-sample scatter (small n), transposed tiles over threads"),
        Route("tf-csr", "tensorflow", "sparse", prepare_tf_csr,
              "TensorFlow CSR SparseMatrixMatMul of W^T (oneDNN SpMM if enabled)"),
        Route("tf-sparse", "tensorflow", "sparse", prepare_tf_sparse,
              "tf.sparse.sparse_dense_matmul of COO W^T"),
        Route("litert-sparse", "litert", "sparse", prepare_litert_sparse,
              "LiteRT EXPERIMENTAL_SPARSITY, widths padded to a multiple of 4, 1 thread"),
    )
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


def onednn_spmm_enabled() -> bool:
    """Whether ``TF_ENABLE_ONEDNN_SPMM`` asks TensorFlow for oneDNN's sparse matmul."""
    return os.environ.get("TF_ENABLE_ONEDNN_SPMM", "0").lower() in ("1", "true")
