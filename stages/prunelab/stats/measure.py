"""Figures of one network on a labelled set, and of several seeds' networks combined.

Pure numpy on top of :mod:`prunelab.stats.sparsity` (no files, no TensorFlow). The evaluate and
sensitivity stages both measure every network once per seed and report the mean over seeds,
with the spread of the figures in :data:`SPREAD_KEYS`: :func:`over_seeds` is that one rule.
Every float is rounded to :data:`DIGITS` decimals, so the JSON reports stay readable and a rerun
on another machine differs only where a figure really moved.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prunelab.model.forward import accuracy_and_loss
from prunelab.stats.sparsity import model_stats

DIGITS = 6
# Figures that get a spread over seeds besides their mean.
SPREAD_KEYS = ("test_accuracy", "test_loss")
# What the reports say the ``_min`` and ``_max`` figures are.
SPREAD_NOTE = "min and max over seeds"


def rounded(value: Any) -> Any:
    """``value`` with every float rounded to :data:`DIGITS` decimals (recursively)."""
    if isinstance(value, float):
        return round(value, DIGITS)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def over_seeds(entries: dict[int, dict]) -> dict:
    """One entry from per-seed entries: means, plus min, max and per-seed values of spread keys.

    Numbers are averaged (integers that agree over the seeds stay integers), nested objects
    are combined key by key, and anything else (``None``) is kept when the seeds agree.
    """
    seeds = list(entries)
    first = entries[seeds[0]]
    combined: dict[str, Any] = {}
    for key, value in first.items():
        values = [entries[seed][key] for seed in seeds]
        if isinstance(value, dict):
            combined[key] = over_seeds({seed: entries[seed][key] for seed in seeds})
        elif isinstance(value, int) and all(v == value for v in values):
            combined[key] = value
        elif all(isinstance(v, (int, float)) for v in values):
            combined[key] = float(np.mean(values))
        else:
            combined[key] = value if all(v == value for v in values) else None
        if key in SPREAD_KEYS:
            combined[f"{key}_min"] = min(values)
            combined[f"{key}_max"] = max(values)
            combined[f"{key}_seeds"] = {f"seed_{s}": v for s, v in zip(seeds, values, strict=True)}
    return rounded(combined)


def accuracy_entry(kernels: list[np.ndarray], images: np.ndarray, labels: np.ndarray) -> dict:
    """``{"test_accuracy"}`` of one network, rounded: all a sensitivity cell needs."""
    return rounded({"test_accuracy": accuracy_and_loss(kernels, images, labels)[0]})


def model_entry(kernels: list[np.ndarray], images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, loss and size figures of one network, JSON-ready and rounded.

    Per-layer lists of :func:`prunelab.stats.sparsity.model_stats` become objects keyed
    ``kernel_<i>`` / ``hidden_<i>``, so ``dvc metrics`` and a reader see which layer a figure
    belongs to.
    """
    accuracy, loss = accuracy_and_loss(kernels, images, labels)
    stats = model_stats(kernels)
    stats.pop("shrunk_layer_sizes")  # the same information as alive_units
    per_kernel = {
        key: {f"kernel_{i}": v for i, v in enumerate(stats.pop(key))}
        for key in ("layer_sparsity", "layer_effective_sparsity")
    }
    alive = {f"hidden_{i}": v for i, v in enumerate(stats.pop("alive_units"))}
    return rounded(
        {"test_accuracy": accuracy, "test_loss": loss, **stats, "alive_units": alive, **per_kernel}
    )
