"""The figure of the dense weights' magnitudes: why most weights can go.

Per dense kernel a histogram of ``log10|w|`` with the cut-offs of weight pruning at each k, and
the share of each kernel's ``sum(w**2)`` that removing its smallest weights deletes. The figures
in the panels' text (largest ``|w|``, share of small weights, energy of the smallest half) are
those the evaluate stage wrote with :func:`prunelab.stats.sparsity.magnitude_stats`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prunelab.figures.charts import DPI, plt
from prunelab.pruning.masks import count_to_prune


def _label_positions(cuts: list[tuple[int, float]], gap: float) -> list[tuple[int, float]]:
    """The (k, x) cut-offs to label, left to right, skipping any closer than ``gap`` to the last."""
    chosen: list[tuple[int, float]] = []
    for k, x in sorted(cuts, key=lambda item: item[1]):
        if not chosen or x - chosen[-1][1] >= gap:
            chosen.append((k, x))
    return chosen


def _histogram(axis: Any, ordered: np.ndarray, stats: dict[str, float], logits: bool,
               cut_ks: list[int]) -> None:
    """One kernel's panel from its sorted ``|w|``: histogram of log10|w|, the 10 %-of-max line
    and, for a hidden kernel, the cut-off of weight pruning at each k."""
    nonzero = ordered[ordered > 0]
    if nonzero.size == 0:
        axis.text(0.5, 0.5, "all weights are zero", ha="center", transform=axis.transAxes)
        return
    logs = np.log10(nonzero)
    # The far-left tail (a few tiny weights) would squash the bulk: show from the 0.1 %
    # quantile; the clipped weights are counted in the leftmost bin.
    low, high = float(np.quantile(logs, 0.001)), float(logs[-1])
    low, high = (low - 0.5, high + 0.5) if high - low < 1e-9 else (low, high)
    axis.hist(np.clip(logs, low, None), bins=80, range=(low, high),
              color="tab:gray" if logits else "tab:blue", alpha=0.8)
    largest = stats["abs_max"]
    axis.axvline(np.log10(0.1 * largest), color="black", linestyle=":", linewidth=1.2)
    axis.text(
        0.02, 0.97,
        f"max |w| = {largest:.3g}\n{stats['frac_below_10pct_max']:.0%} of weights < 10% of max "
        f"(dotted)\nsmallest 50% hold {stats['energy_smallest_50pct']:.1%} of Σw²",
        transform=axis.transAxes, va="top", fontsize=8,
    )  # fmt: skip
    if not logits:
        cuts = []
        for k in cut_ks:
            count = count_to_prune(ordered.size, k)
            if count and ordered[count - 1] > 0:
                cut = float(np.log10(ordered[count - 1]))
                axis.axvline(cut, color="tab:red", linewidth=0.8, alpha=0.55)
                cuts.append((k, cut))
        top = axis.get_ylim()[1]
        for k, cut in _label_positions(cuts, gap=0.05 * (high - low)):
            axis.text(cut, top, f"{k}", color="tab:red", fontsize=7, ha="center", va="bottom")
    axis.set_xlim(low, high)
    axis.set_xlabel("log10 |w|")
    axis.set_ylabel("weights")
    axis.grid(True, alpha=0.3)


def _energy_removed(axis: Any, sorted_kernels: list[np.ndarray], cut_ks: list[int]) -> None:
    """Per kernel, the share of its sum(w**2) removed against the share of smallest weights."""
    for index, ordered in enumerate(sorted_kernels):
        squares = ordered**2
        if squares.size == 0 or squares.sum() == 0:
            continue
        removed = np.concatenate([[0.0], np.cumsum(squares) / squares.sum()])
        share = np.linspace(0, 100, removed.size)
        step = max(1, removed.size // 2000)  # a few thousand points draw the same curve
        axis.plot(share[::step], 100 * removed[::step], label=f"kernel_{index}")
    axis.plot([0, 100], [0, 100], color="grey", linestyle=":", linewidth=1, label="all |w| equal")
    for k in cut_ks:
        axis.axvline(k, color="tab:red", linewidth=0.6, alpha=0.35)
    axis.set_title("weight pruning: share of Σw² removed vs k", fontsize=10)
    axis.set_xlabel("smallest-|w| weights removed (%)")
    axis.set_ylabel("share of the layer's Σw² removed (%)")
    axis.set_xlim(0, 100)
    axis.set_ylim(0, 100)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")


def magnitude_figure(dense: list[np.ndarray], magnitudes: dict[str, dict[str, float]],
                     ks: list[int], title: str) -> plt.Figure:
    """Per kernel a histogram of log10|w|; last panel: share of sum(w**2) removed vs k.

    ``magnitudes`` holds :func:`prunelab.stats.sparsity.magnitude_stats` of each kernel, keyed
    ``kernel_<i>`` (the ``dense`` entry of the evaluate stage's report); red lines mark the
    cut-offs of weight pruning at each k of ``ks`` (none when ``ks`` is empty).
    """
    columns = 3
    rows = -(-(len(dense) + 1) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(15, 4.2 * rows), dpi=DPI, squeeze=False)
    flat = axes.ravel()
    cut_ks = [k for k in sorted(ks) if k > 0]
    sorted_kernels = [np.sort(np.abs(kernel.astype(np.float64)).ravel()) for kernel in dense]
    for index, (kernel, ordered) in enumerate(zip(dense, sorted_kernels, strict=True)):
        logits = index == len(dense) - 1
        name = f"kernel_{index} ({kernel.shape[0]}×{kernel.shape[1]})"
        flat[index].set_title(name + (", logits: never pruned" if logits else ""), fontsize=10)
        _histogram(flat[index], ordered, magnitudes[f"kernel_{index}"], logits, cut_ks)
    _energy_removed(flat[len(dense)], sorted_kernels, cut_ks)
    for axis in flat[len(dense) + 1 :]:
        axis.axis("off")
    figure.suptitle(
        title + "\nred lines: |w| cut-off of weight pruning at k % of each hidden matrix "
        "(labels: k)",
        fontsize=11,
    )
    figure.tight_layout()
    return figure
