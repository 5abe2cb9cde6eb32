"""Layer sensitivity: prune one hidden matrix at a time, the others dense, and measure.

For every method, hidden kernel ``l`` and ``k``: kernel ``l`` of each seed's dense model is pruned
by :func:`prunelab.pruning.masks.prune_matrix` and the network's test accuracy measured with the
TensorFlow-free forward pass; the seeds are combined by :func:`prunelab.stats.measure.over_seeds`.
"""

from __future__ import annotations

import numpy as np

from prunelab.pruning.masks import prune_matrix
from prunelab.stats.measure import SPREAD_NOTE, accuracy_entry, over_seeds


def layer_sensitivity(
    dense: dict[int, list[np.ndarray]],
    methods: tuple[str, ...],
    ks: tuple[int, ...],
    images: np.ndarray,
    labels: np.ndarray,
) -> dict:
    """``{"seeds", "spread", "<method>": {"kernel_<l>": {"<k>": {"test_accuracy", "_min",
    "_max", "_seeds"}}}}`` for the dense models by seed, ks ascending."""
    seeds = list(dense)
    document: dict = {"seeds": seeds, "spread": SPREAD_NOTE}
    hidden = len(dense[seeds[0]]) - 1
    for method in methods:
        by_layer = document.setdefault(method, {})
        for layer in range(hidden):
            row = by_layer.setdefault(f"kernel_{layer}", {})
            for k in sorted(ks):
                per_seed = {}
                for seed in seeds:
                    kernels = list(dense[seed])
                    kernels[layer] = prune_matrix(kernels[layer], method, k)
                    per_seed[seed] = accuracy_entry(kernels, images, labels)
                row[str(k)] = over_seeds(per_seed)
            print(
                f"sensitivity: {method} kernel_{layer}: "
                + " ".join(f"{k}%:{row[k]['test_accuracy']:.3f}" for k in row),
                flush=True,
            )
    return document
