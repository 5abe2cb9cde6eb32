"""Size figures of a pruned network: effective and physical sparsity, MACs, dead units and
magnitudes.

Pure numpy (no Keras, no TensorFlow, no I/O); the structure (which units are dead) comes from
:mod:`prunelab.model.structure`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prunelab.model.structure import alive_units, check_chain, effective_kernels, shrink


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def model_stats(kernels: list[np.ndarray]) -> dict[str, Any]:
    """Size figures of a (pruned) network, as plain Python ``int``/``float``/``list``/``None``.

    "Hidden" kernels are all but the last (the logits matrix, which pruning never touches).
    "Effective" figures are of :func:`effective_kernels`, i.e. after the weights of dead units
    are zeroed too. Keys:

    * ``params``: number of weights of all kernels (the dense size).
    * ``nonzero_params``: weights that are not zero; ``effective_nonzero_params``: the same in
      the effective kernels.
    * ``sparsity``: zero weights / all weights, over all kernels; ``sparsity_hidden``: the same
      over the hidden kernels only; ``effective_sparsity``, ``effective_sparsity_hidden``: the
      same two for the effective kernels.
    * ``layer_sparsity``, ``layer_effective_sparsity``: one share of zeros per kernel.
    * ``compression_ratio``: ``params / nonzero_params`` (how much smaller a format storing only
      the nonzero weights is, ignoring index overhead).
    * ``alive_units``: number of live units per hidden layer; ``shrunk_layer_sizes``: the layer
      widths of :func:`shrink`'s network, inputs and logits included.
    * ``dense_macs``: multiply-accumulates per example of the kernels run as dense matrix
      products, ``sum(inputs * outputs)`` (2,386,000 for 784-1000-1000-500-200-10), which
      equals ``params``; ``shrunk_macs``: the same for the shrunk network.
    * ``mac_reduction``: ``dense_macs / shrunk_macs``, the theoretical speed-up of running the
      shrunk network as dense matrix products.
    * ``sparse_mac_reduction``: ``dense_macs / effective_nonzero_params``, the theoretical
      speed-up if only the useful nonzero weights were executed (sparse kernels).

    A ratio whose denominator is zero (everything pruned) is ``None``, which JSON writes as
    ``null``; shares of an empty set of weights are ``0.0``.
    """
    arrays = check_chain(kernels)
    effective = effective_kernels(arrays)
    sizes = [int(array.size) for array in arrays]
    nonzero = [int(np.count_nonzero(array)) for array in arrays]
    effective_nonzero = [int(np.count_nonzero(array)) for array in effective]
    shrunk_shapes = [array.shape for array in shrink(arrays)]

    def share_of_zeros(counts: list[int], selection: slice) -> float:
        total = sum(sizes[selection])
        return (total - sum(counts[selection])) / total if total else 0.0

    hidden = slice(0, len(arrays) - 1)
    params = sum(sizes)
    dense_macs = sum(int(rows) * int(columns) for rows, columns in (a.shape for a in arrays))
    shrunk_macs = sum(int(rows) * int(columns) for rows, columns in shrunk_shapes)
    return {
        "params": params,
        "nonzero_params": sum(nonzero),
        "effective_nonzero_params": sum(effective_nonzero),
        "sparsity": share_of_zeros(nonzero, slice(None)),
        "sparsity_hidden": share_of_zeros(nonzero, hidden),
        "effective_sparsity": share_of_zeros(effective_nonzero, slice(None)),
        "effective_sparsity_hidden": share_of_zeros(effective_nonzero, hidden),
        "layer_sparsity": [share_of_zeros(nonzero, slice(i, i + 1)) for i in range(len(arrays))],
        "layer_effective_sparsity": [
            share_of_zeros(effective_nonzero, slice(i, i + 1)) for i in range(len(arrays))
        ],
        "compression_ratio": _ratio(params, sum(nonzero)),
        "alive_units": [int(np.count_nonzero(alive)) for alive in alive_units(arrays)],
        "shrunk_layer_sizes": [int(shrunk_shapes[0][0])] + [int(s[1]) for s in shrunk_shapes],
        "dense_macs": dense_macs,
        "shrunk_macs": shrunk_macs,
        "mac_reduction": _ratio(dense_macs, shrunk_macs),
        "sparse_mac_reduction": _ratio(dense_macs, sum(effective_nonzero)),
    }


def magnitude_stats(kernel: np.ndarray) -> dict[str, float]:
    """Facts about the distribution of ``|w|`` in one kernel, as plain Python floats.

    * ``abs_max``, ``abs_mean``; ``abs_q01``, ``abs_q10``, ``abs_q50``, ``abs_q90``,
      ``abs_q99``: quantiles of ``|w|`` (numpy's default linear interpolation).
    * ``frac_below_1pct_max``, ``frac_below_10pct_max``: share of weights with
      ``|w| < 0.01 * max|w|`` (resp. ``0.1``).
    * ``energy_smallest_50pct``, ``energy_smallest_90pct``: share of the squared Frobenius norm
      ``sum(w**2)`` held by the 50 % (resp. 90 %) smallest-magnitude weights -- what weight
      pruning at ``k = 50`` (``90``) deletes, in that sense.
    * ``unit_norm_cv``: coefficient of variation (std / mean) of the column L2 norms, the
      quantity unit pruning ranks; ``unit_norm_min_over_median``: smallest / median column norm.

    Raises:
        ValueError: if ``kernel`` is not a non-empty 2-D array.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.size == 0:
        raise ValueError(f"need a non-empty 2-D kernel, got shape {kernel.shape}")
    magnitudes = np.abs(kernel).ravel()
    ordered = np.sort(magnitudes)
    largest = float(ordered[-1])
    squares = ordered**2
    energy = float(squares.sum())

    def energy_share(percent: int) -> float:
        count = (percent * ordered.size) // 100
        return float(squares[:count].sum() / energy) if energy else 0.0

    q01, q10, q50, q90, q99 = (float(q) for q in np.quantile(ordered, [0.01, 0.1, 0.5, 0.9, 0.99]))
    norms = np.sqrt(np.einsum("ij,ij->j", kernel, kernel))
    mean_norm = float(norms.mean())
    median_norm = float(np.median(norms))
    return {
        "abs_max": largest,
        "abs_mean": float(magnitudes.mean()),
        "abs_q01": q01,
        "abs_q10": q10,
        "abs_q50": q50,
        "abs_q90": q90,
        "abs_q99": q99,
        "frac_below_1pct_max": float(np.count_nonzero(magnitudes < 0.01 * largest) / ordered.size),
        "frac_below_10pct_max": float(np.count_nonzero(magnitudes < 0.1 * largest) / ordered.size),
        "energy_smallest_50pct": energy_share(50),
        "energy_smallest_90pct": energy_share(90),
        "unit_norm_cv": float(norms.std() / mean_norm) if mean_norm else 0.0,
        "unit_norm_min_over_median": float(norms.min() / median_norm) if median_norm else 0.0,
    }
