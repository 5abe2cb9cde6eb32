"""What a pruned network really is: dead units, effective and physical size, accuracy and loss.

Pure numpy (no Keras, no TensorFlow, no I/O). A network is a list of kernels ``[K_0, ...,
K_{L-1}]``, each of shape ``(inputs, outputs)`` as Keras stores Dense kernels, with
``K_l.shape[1] == K_{l+1}.shape[0]``; the network is bias-free with a ReLU after every kernel but
the last (see :func:`prunelab.weights.forward`). *Hidden layer* ``l`` (``0 <= l < L - 1``) is the
output of ``K_l``; its unit ``j`` owns column ``j`` of ``K_l`` (what it reads) and row ``j`` of
``K_{l+1}`` (what reads it). The network inputs (rows of ``K_0``) and the logits (columns of
``K_{L-1}``) are never removed.

Deadness is *structural*: it depends only on which weights are exactly zero, so everything here
holds for every input. A hidden unit is dead when it cannot influence the logits:

* its column in ``K_l`` is zero on every live input: it always outputs ``ReLU(0) = 0``; or
* its row in ``K_{l+1}`` is zero on every live unit of the next layer: nothing uses its output.

A dead unit makes its column of ``K_l`` and its row of ``K_{l+1}`` useless, which can kill
further units, forwards and backwards (a chain reaction). Units whose incoming weights are all
negative are always zero too when the inputs are non-negative, but that depends on the data and
on signs, so they are not counted as dead here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prunelab.weights import forward


def check_chain(kernels: list[np.ndarray]) -> list[np.ndarray]:
    """The kernels as arrays, after checking that they are 2-D and chain up."""
    arrays = [np.asarray(kernel) for kernel in kernels]
    if not arrays:
        raise ValueError("a network needs at least one kernel (the logits matrix)")
    for index, array in enumerate(arrays):
        if array.ndim != 2:
            raise ValueError(f"kernel {index} has shape {array.shape}: kernels must be 2-D")
    for index, (left, right) in enumerate(zip(arrays[:-1], arrays[1:])):
        if left.shape[1] != right.shape[0]:
            raise ValueError(
                f"kernel {index} has {left.shape[1]} outputs but kernel {index + 1} has "
                f"{right.shape[0]} inputs: shapes {left.shape} and {right.shape} do not chain"
            )
    return arrays


def alive_units(kernels: list[np.ndarray]) -> list[np.ndarray]:
    """Which units of each hidden layer are alive, after propagating deadness to a fixed point.

    Returns one boolean array per hidden layer (the outputs of ``kernels[0]`` ...
    ``kernels[-2]``; so ``len(kernels) - 1`` arrays, 4 for the lab's MLP), ``True`` = alive.

    The result is the fixed point of this rule, started from "all alive" and applied until
    nothing changes: unit ``j`` of hidden layer ``l`` dies when column ``j`` of ``kernels[l]``
    has no nonzero entry in a live row (a live input: every network input, or a live unit of
    layer ``l - 1``), or when row ``j`` of ``kernels[l + 1]`` has no nonzero entry in a live
    column (a live unit of layer ``l + 1``, or any logit). Inputs and logits never die.

    Equivalently -- and that is how it is computed, in one forward and one backward pass -- a
    unit is alive exactly when it lies on a path of nonzero weights from some network input to
    some logit: it must be reachable from the inputs and must reach the logits. (Every unit on
    such a path satisfies the rule with the path's neighbours as witnesses; a unit on no such
    path loses, by induction along the layers, all its live inputs or all its live readers.)

    Args:
        kernels: 2-D arrays ``(inputs, outputs)`` that chain (``kernels[l].shape[1] ==
            kernels[l + 1].shape[0]``). Entries equal to ``0.0`` or ``-0.0`` are absent
            weights; anything else, NaN included, is present.

    Returns:
        ``[alive_0, ..., alive_{L-2}]`` with ``alive_l.shape == (kernels[l].shape[1],)``.

    Raises:
        ValueError: if a kernel is not 2-D or consecutive shapes do not chain.
    """
    arrays = check_chain(kernels)
    present = [array != 0 for array in arrays]
    hidden = len(arrays) - 1
    # Forward: reachable from the inputs through nonzero weights (every input counts).
    reachable: list[np.ndarray] = []
    source = np.ones(arrays[0].shape[0], dtype=bool)
    for layer in range(hidden):
        source = present[layer][source].any(axis=0)
        reachable.append(source)
    # Backward: reaches some logit through nonzero weights (every logit counts).
    reaches: list[np.ndarray] = [np.empty(0, dtype=bool)] * hidden
    sink = np.ones(arrays[-1].shape[1], dtype=bool)
    for layer in range(hidden - 1, -1, -1):
        sink = present[layer + 1][:, sink].any(axis=1)
        reaches[layer] = sink
    return [forward & backward for forward, backward in zip(reachable, reaches)]


def _row_and_column_masks(
    arrays: list[np.ndarray], alive: list[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each kernel: which rows (inputs) and columns (outputs) belong to live units."""
    masks = []
    for layer, array in enumerate(arrays):
        rows = alive[layer - 1] if layer > 0 else np.ones(array.shape[0], dtype=bool)
        columns = alive[layer] if layer < len(alive) else np.ones(array.shape[1], dtype=bool)
        masks.append((rows, columns))
    return masks


def live_blocks(kernels: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each kernel, boolean masks of the rows and columns that belong to live units.

    Rows of ``kernels[0]`` (the inputs) and columns of ``kernels[-1]`` (the logits) are all
    live; otherwise row ``j`` of ``kernels[l]`` is live when unit ``j`` of hidden layer
    ``l - 1`` is, and column ``j`` when unit ``j`` of hidden layer ``l`` is (:func:`alive_units`).
    """
    arrays = check_chain(kernels)
    return _row_and_column_masks(arrays, alive_units(arrays))


def effective_kernels(kernels: list[np.ndarray]) -> list[np.ndarray]:
    """Copies of the kernels with every weight of a dead unit set to zero.

    In ``kernels[l]`` the rows of dead units of hidden layer ``l - 1`` and the columns of dead
    units of hidden layer ``l`` (see :func:`alive_units`) become ``0``; nothing else changes.
    Shapes and dtypes are kept and the inputs are not modified. The logits are the same as the
    original network's for every input: the zeroed weights could only ever multiply a zero or
    feed a unit whose output nobody reads. The result is a fixed point: its own effective
    kernels equal it, and its zero pattern is the one the original *effectively* has.
    """
    arrays = check_chain(kernels)
    effective = []
    for array, (rows, columns) in zip(arrays, _row_and_column_masks(arrays, alive_units(arrays))):
        copy = array.copy()
        copy[~rows, :] = 0
        copy[:, ~columns] = 0
        effective.append(copy)
    return effective


def shrink(kernels: list[np.ndarray]) -> list[np.ndarray]:
    """The smaller dense network left after physically removing every dead unit.

    Hidden layer ``l`` keeps only its live units (:func:`alive_units`): ``kernels[l]`` loses the
    columns of its dead units and ``kernels[l + 1]`` the matching rows. The input rows of
    ``kernels[0]`` and the logit columns of ``kernels[-1]`` are all kept, so the result takes the
    same inputs and gives the same number of logits -- the same logits for every finite input,
    as only always-zero activations and never-read weights are dropped (in floating point up to
    the order in which the matrix products sum the remaining terms). Dtypes are kept; the
    result holds new arrays.

    When a hidden layer has no live unit, every hidden layer loses all of its units (nothing
    reaches the logits), and the result has the valid shapes ``(inputs, 0), (0, 0), ...,
    (0, logits)``: the matrix products then give all-zero logits, as the original network does.
    """
    arrays = check_chain(kernels)
    masks = _row_and_column_masks(arrays, alive_units(arrays))
    return [array[rows][:, columns].copy() for array, (rows, columns) in zip(arrays, masks)]


def zero_counts(kernels: list[np.ndarray]) -> str:
    """``zeros/size`` of every kernel, for a stage's log line."""
    return ", ".join(f"{int(np.count_nonzero(kernel == 0))}/{kernel.size}" for kernel in kernels)


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


def accuracy_and_loss(
    kernels: list[np.ndarray], images: np.ndarray, labels: np.ndarray
) -> tuple[float, float]:
    """Top-1 accuracy and mean cross-entropy (natural log) of the network on a labelled set.

    The logits come from :func:`prunelab.weights.forward` (float32, the same arithmetic for
    every stage that uses it). The loss is computed in float64 with a numerically stable
    log-softmax, ``z - max(z) - log(sum(exp(z - max(z))))``, so huge logits do not overflow;
    it is what Keras' ``SparseCategoricalCrossentropy(from_logits=True)`` averages. The
    predicted class is the first index of the largest logit (``np.argmax``), so all-equal
    logits predict class 0.

    Args:
        kernels: the network (see the module docstring).
        images: ``(count, inputs)`` array, ``count >= 1``.
        labels: ``(count,)`` integer class indices in ``[0, number of logits)``.

    Returns:
        ``(accuracy, loss)`` as Python floats.

    Raises:
        ValueError: on an empty set, mismatched lengths, or labels out of range.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{len(images)} images but labels of shape {labels.shape}")
    if len(labels) == 0:
        raise ValueError("accuracy and loss of an empty set are undefined")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    classes = np.asarray(kernels[-1]).shape[1]
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"labels must lie in [0, {classes}), got {labels.min()}..{labels.max()}")
    logits = forward(kernels, images).astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(log_probabilities[np.arange(len(labels)), labels].mean())
    accuracy = float(np.mean(np.argmax(logits, axis=1) == labels))
    return accuracy, loss
