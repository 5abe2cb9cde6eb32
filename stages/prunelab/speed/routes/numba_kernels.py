"""The numba-compiled kernels of the ``numba`` and ``numba-csr`` routes (:mod:`.numba_fused`).

Layers are packed into flat arrays so one compiled function handles any depth and widths:
``sizes`` holds the L + 1 widths, layer l's pieces start at ``offsets[l]`` of the flat arrays.
Pointers and indices are unsigned and inner loops run over slices, so numba emits no
negative-index fix-ups (they cost ~25 % at batch 1) and LLVM vectorises the AXPYs (fastmath
lets it reorder the float sums). The kernels compile on first use (cached on disk next to this
file when possible).
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = {"nogil": True, "fastmath": True, "cache": True, "boundscheck": False}
#: The dense pass multiplies a layer by dot products once this many quarters of its inputs are
#: non-zero (a layer of fewer than WIDE_LAYER outputs, or more), else it adds the rows of its
#: non-zero inputs: per input, an AXPY's fixed cost weighs more the narrower the row it writes.
WIDE_LAYER = 128
DOT_QUARTERS_NARROW = 2
DOT_QUARTERS_WIDE = 3
#: Small helpers are inlined into their callers at numba's IR level: the compiled loops are
#: the ones a single hand-written function would give.
_INLINE = {**_JIT, "inline": "always"}


@numba.njit(**_JIT)
def _max_width(sizes):
    width = 0
    for size in sizes:
        width = max(width, size)
    return width


@numba.njit(**_INLINE)
def _sample_buffers(sizes):
    """Two activation vectors as wide as the widest layer (one read, one written per layer),
    and room for the positions of one layer's non-zero inputs (:func:`_nonzero_positions`)."""
    width = _max_width(sizes)
    return np.empty(width, np.float32), np.empty(width, np.float32), np.empty(width, np.uint32)


@numba.njit(**_INLINE)
def _nonzero_positions(source, positions):
    """Write the positions of ``source``'s non-zeros to the front of ``positions``; their count.

    Branch-free: every position is written and the count advances by the comparison, so the
    loops over non-zeros that follow have no data-dependent branch inside. A ``!= 0`` test per
    input mispredicts whenever the zero pattern changes from one input to the next (real
    images; the pattern of random pixels' ReLU outputs hardly does), which cost more than the
    multiplications it saved (measured: the README's speed section).
    """
    count = 0
    for j in range(source.shape[0]):
        positions[count] = j
        count += source[j] != 0.0
    return count


@numba.njit(**_INLINE)
def _chunk(n, chunks, chunk):
    """Bounds ``(start, stop)`` of chunk ``chunk`` of ``chunks`` near-equal parts of ``n``."""
    return chunk * n // chunks, (chunk + 1) * n // chunks


@numba.njit(**_INLINE)
def _relu_unless_last(values, layer, layers):
    """ReLU in place after every layer but the last (the logits)."""
    if layer < layers - 1:
        for i in range(values.shape[0]):
            values[i] = max(values[i], np.float32(0.0))


@numba.njit(**_INLINE)
def _scatter_layer(pointers, columns, values, source, target, positions):
    """``target = source @ W`` with ``W`` as input-major CSR: each non-zero input scatters its
    row's non-zeros (``positions``: scratch for :func:`_nonzero_positions`)."""
    target[:] = 0.0
    for q in range(_nonzero_positions(source, positions)):
        j = positions[q]
        activation = source[j]
        for p in range(pointers[j], pointers[j + 1]):
            target[columns[p]] += activation * values[p]


@numba.njit(**_JIT)
def dense_rows(sizes, offsets, weights, weights_t, x, out, start, stop):
    """Samples ``start:stop`` through every layer, one sample at a time.

    A layer whose input is mostly non-zero runs as dot products with the rows of ``W^T``
    (contiguous, vectorised, no stores in the loop); a sparser one (typical after a ReLU, and
    real images' pixels, half of them zero) as ``b += a_j * W[j, :]`` over its non-zero ``a_j``
    only. Where they cross depends on the layer's width (:data:`DOT_QUARTERS_WIDE`).
    """
    layers = sizes.shape[0] - 1
    a, b, positions = _sample_buffers(sizes)
    for sample in range(start, stop):
        a[: sizes[0]] = x[sample]
        for layer in range(layers):
            n_in = sizes[layer]
            n_out = sizes[layer + 1]
            base = offsets[layer]
            target = b[:n_out]
            source = a[:n_in]
            nonzero = _nonzero_positions(source, positions)
            # Measured per sample on test images (half the pixels zero): the dense network's
            # 1000-wide first layer ran 62 -> 53 us with three quarters; a 100-wide one lost 1 us.
            quarters = DOT_QUARTERS_WIDE if n_out >= WIDE_LAYER else DOT_QUARTERS_NARROW
            if 4 * nonzero >= quarters * n_in:
                for i in range(n_out):
                    row = weights_t[base + i * n_in: base + (i + 1) * n_in]
                    total = np.float32(0.0)
                    for j in range(n_in):
                        total += row[j] * source[j]
                    target[i] = total
            else:
                target[:] = 0.0
                for q in range(nonzero):
                    j = positions[q]
                    value = source[j]
                    row = weights[base + j * n_out: base + (j + 1) * n_out]
                    for i in range(n_out):
                        target[i] += value * row[i]
            _relu_unless_last(target, layer, layers)
            a, b = b, a
        out[sample, :] = a[: sizes[layers]]


@numba.njit(parallel=True, **_JIT)
def dense_rows_parallel(sizes, offsets, weights, weights_t, x, out, chunks):
    for chunk in numba.prange(chunks):
        start, stop = _chunk(x.shape[0], chunks, chunk)
        dense_rows(sizes, offsets, weights, weights_t, x, out, start, stop)


@numba.njit(**_JIT)
def csr_rows(sizes, ptr_offsets, nz_offsets, indptr, indices, data, x, out, start, stop):
    """Samples ``start:stop`` over an input-major CSR (:func:`_scatter_layer`), one at a time."""
    layers = sizes.shape[0] - 1
    a, b, positions = _sample_buffers(sizes)
    for sample in range(start, stop):
        a[: sizes[0]] = x[sample]
        for layer in range(layers):
            pointers = indptr[ptr_offsets[layer]: ptr_offsets[layer] + sizes[layer] + 1]
            columns = indices[nz_offsets[layer]: nz_offsets[layer + 1]]
            values = data[nz_offsets[layer]: nz_offsets[layer + 1]]
            target = b[: sizes[layer + 1]]
            _scatter_layer(pointers, columns, values, a[: sizes[layer]], target, positions)
            _relu_unless_last(target, layer, layers)
            a, b = b, a
        out[sample, :] = a[: sizes[layers]]


@numba.njit(parallel=True, **_JIT)
def csr_rows_parallel(sizes, ptr_offsets, nz_offsets, indptr, indices, data, x, out, chunks):
    for chunk in numba.prange(chunks):
        start, stop = _chunk(x.shape[0], chunks, chunk)
        csr_rows(sizes, ptr_offsets, nz_offsets, indptr, indices, data, x, out, start, stop)


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
            _relu_unless_last(target, layer, layers)
        a, b = b, a
    for t in range(count):
        row = out[start + t]
        for i in range(sizes[layers]):
            row[i] = a[i * count + t]


@numba.njit(parallel=True, **_JIT)
def csr_tiled_parallel(sizes, ptr_offsets, nz_offsets, indptr, indices, data, x, out, tile):
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
