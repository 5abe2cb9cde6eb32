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
#: How the dense pass multiplies one layer, from a cost model measured on this CPU kind
#: (``tools/dense_cost_model.py``: both forms alone, weights in cache, one sample, on a grid of
#: widths and zero shares): a multiply-add costs about the same in dot products with the rows
#: of ``W^T`` as in adding ``a_j * W[j, :]`` for a non-zero input (~0.04 ns, four rows or
#: outputs per pass), but each row added costs ~1.3 ns more (about SCATTER_FIXED_MACS
#: multiply-adds: loop set-up and remainder, shared by four rows), and listing the non-zero
#: inputs costs ~DOT_SLACK multiply-adds per input. So a layer of ``n_in`` inputs, ``nonzero`` of
#: them non-zero, and ``n_out`` outputs adds rows iff ``nonzero * (SCATTER_FIXED_MACS + n_out) <
#: n_in * (n_out - DOT_SLACK)``: the wide layers of a pruned network's hidden activations (50-90 %
#: zeros) add rows, narrow layers (a compact network's last ones) take dot products.
SCATTER_FIXED_MACS = 30
DOT_SLACK = 12
#: Every row of a dense layer's ``W`` and ``W^T`` starts on a 64-byte cache line: rows are stored
#: :func:`row_stride` floats apart (the width rounded up to ROW_ALIGN floats) from a flat array
#: that starts on one (:func:`.numba_fused.dense_operands`). Rows at whatever offset the allocator
#: gave made vector loads straddle cache lines: the same network, loaded twice, ran 8.7 and
#: 7.5 us a call at batch 1 (interleaved; each one's 10th-90th percentile within 3 %), so a
#: network's median moved with where its arrays landed, from one process to the next.
ROW_ALIGN = 16
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
def row_stride(width):
    """Floats between the starts of two rows ``width`` floats wide (:data:`ROW_ALIGN`)."""
    return (width + ROW_ALIGN - 1) // ROW_ALIGN * ROW_ALIGN


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
    multiplications it saved (REPORT.md's speed section).
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


@numba.njit(**_INLINE)
def _nonzero_count(source):
    """How many of ``source``'s values are non-zero (a vectorised count: no stores)."""
    count = 0
    for j in range(source.shape[0]):
        count += source[j] != 0.0
    return count


@numba.njit(**_INLINE)
def _adds_rows(nonzero, n_in, n_out):
    """Whether a dense layer is cheaper as rows added for its non-zero inputs (the cost model
    of :data:`SCATTER_FIXED_MACS`) than as ``n_out`` dot products over all its inputs."""
    return nonzero * (SCATTER_FIXED_MACS + n_out) < n_in * (n_out - DOT_SLACK)


@numba.njit(**_INLINE)
def _copy(source, target):
    """``target[:] = source`` as a plain loop (numba's slice assignment checks for overlap and
    broadcasting: ~0.25 us for 784 floats, a tenth of a small network's call)."""
    for j in range(source.shape[0]):
        target[j] = source[j]


@numba.njit(**_INLINE)
def _row(weights, base, width, index):
    """Row ``index`` of the ``(rows, width)`` matrix stored flat from ``weights[base]``, its rows
    :func:`row_stride` apart."""
    start = base + index * row_stride(width)
    return weights[start: start + width]


@numba.njit(**_INLINE)
def _add_rows(weights, base, n_out, source, positions, count, target):
    """``target = source @ W`` over the ``count`` non-zero inputs listed in ``positions``
    (``W``: ``(n_in, n_out)`` stored from ``weights[base]``, :func:`_row`), four rows per pass.

    Adding one row per pass loads and stores ``target`` once per multiply-add of each output;
    four rows per pass do it once per four (the loads and stores, not the multiply-adds, bound
    this loop), and pay the loop's set-up and remainder once per four rows. The last
    ``count % 4`` rows are added one by one.
    """
    for i in range(n_out):
        target[i] = 0.0
    fours = count - count % 4
    for q in range(0, fours, 4):
        j0, j1, j2, j3 = positions[q], positions[q + 1], positions[q + 2], positions[q + 3]
        a0, a1, a2, a3 = source[j0], source[j1], source[j2], source[j3]
        r0 = _row(weights, base, n_out, j0)
        r1 = _row(weights, base, n_out, j1)
        r2 = _row(weights, base, n_out, j2)
        r3 = _row(weights, base, n_out, j3)
        for i in range(n_out):
            target[i] += (a0 * r0[i] + a1 * r1[i]) + (a2 * r2[i] + a3 * r3[i])
    for q in range(fours, count):
        j = positions[q]
        activation = source[j]
        row = _row(weights, base, n_out, j)
        for i in range(n_out):
            target[i] += activation * row[i]


@numba.njit(**_INLINE)
def _dot_rows(weights_t, base, n_in, n_out, source, target):
    """``target = source @ W`` as ``n_out`` dot products with the rows of ``W^T`` (stored from
    ``weights_t[base]``, :func:`_row`), four outputs per pass: each load of ``source`` serves
    four rows (1.25 loads per multiply-add instead of 2). The last ``n_out % 4`` outputs one by
    one."""
    fours = n_out - n_out % 4
    for i in range(0, fours, 4):
        r0 = _row(weights_t, base, n_in, i)
        r1 = _row(weights_t, base, n_in, i + 1)
        r2 = _row(weights_t, base, n_in, i + 2)
        r3 = _row(weights_t, base, n_in, i + 3)
        t0 = t1 = t2 = t3 = np.float32(0.0)
        for j in range(n_in):
            value = source[j]
            t0 += r0[j] * value
            t1 += r1[j] * value
            t2 += r2[j] * value
            t3 += r3[j] * value
        target[i], target[i + 1], target[i + 2], target[i + 3] = t0, t1, t2, t3
    for i in range(fours, n_out):
        row = _row(weights_t, base, n_in, i)
        total = np.float32(0.0)
        for j in range(n_in):
            total += row[j] * source[j]
        target[i] = total


@numba.njit(**_JIT)
def dense_rows(sizes, offsets, offsets_t, weights, weights_t, x, out, start, stop):
    """Samples ``start:stop`` through every layer, one sample at a time (layer ``l``'s ``W``
    starts at ``weights[offsets[l]]``, its ``W^T`` at ``weights_t[offsets_t[l]]``).

    Each layer runs either as dot products with the rows of ``W^T`` (:func:`_dot_rows`:
    contiguous, vectorised, no stores in the loop) or as ``b += a_j * W[j, :]`` over its
    non-zero ``a_j`` only (:func:`_add_rows`), whichever the cost model (:func:`_adds_rows`)
    says is cheaper for this sample's zeros.
    """
    layers = sizes.shape[0] - 1
    a, b, positions = _sample_buffers(sizes)
    for sample in range(start, stop):
        _copy(x[sample], a[: sizes[0]])
        for layer in range(layers):
            n_in = sizes[layer]
            n_out = sizes[layer + 1]
            target = b[:n_out]
            source = a[:n_in]
            if _adds_rows(_nonzero_count(source), n_in, n_out):
                count = _nonzero_positions(source, positions)
                _add_rows(weights, offsets[layer], n_out, source, positions, count, target)
            else:
                _dot_rows(weights_t, offsets_t[layer], n_in, n_out, source, target)
            _relu_unless_last(target, layer, layers)
            a, b = b, a
        _copy(a[: sizes[layers]], out[sample])


@numba.njit(parallel=True, **_JIT)
def dense_rows_parallel(sizes, offsets, offsets_t, weights, weights_t, x, out, chunks):
    for chunk in numba.prange(chunks):
        start, stop = _chunk(x.shape[0], chunks, chunk)
        dense_rows(sizes, offsets, offsets_t, weights, weights_t, x, out, start, stop)


@numba.njit(**_JIT)
def csr_rows(sizes, ptr_offsets, nz_offsets, indptr, indices, data, x, out, start, stop):
    """Samples ``start:stop`` over an input-major CSR (:func:`_scatter_layer`), one at a time."""
    layers = sizes.shape[0] - 1
    a, b, positions = _sample_buffers(sizes)
    for sample in range(start, stop):
        _copy(x[sample], a[: sizes[0]])
        for layer in range(layers):
            pointers = indptr[ptr_offsets[layer]: ptr_offsets[layer] + sizes[layer] + 1]
            columns = indices[nz_offsets[layer]: nz_offsets[layer + 1]]
            values = data[nz_offsets[layer]: nz_offsets[layer + 1]]
            target = b[: sizes[layer + 1]]
            _scatter_layer(pointers, columns, values, a[: sizes[layer]], target, positions)
            _relu_unless_last(target, layer, layers)
            a, b = b, a
        _copy(a[: sizes[layers]], out[sample])


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
