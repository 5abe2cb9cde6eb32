"""The live structure of a network of kernels: chaining, dead units, effective and shrunk kernels.

Pure numpy (no Keras, no TensorFlow, no I/O). A network is a list of kernels ``[K_0, ...,
K_{L-1}]``, each of shape ``(inputs, outputs)`` as Keras stores Dense kernels, with
``K_l.shape[1] == K_{l+1}.shape[0]``; the network is bias-free with a ReLU after every kernel but
the last (see :func:`prunelab.model.forward.forward`). *Hidden layer* ``l`` (``0 <= l < L - 1``) is
the output of ``K_l``; its unit ``j`` owns column ``j`` of ``K_l`` (what it reads) and row ``j`` of
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

import numpy as np


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
