"""The figures draw the figures they are given: checked on the matplotlib objects, not pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prunelab.figures.charts import accuracy_figure, plt, png_bytes, speed_figure
from prunelab.figures.magnitudes import magnitude_figure
from prunelab.figures.results import ONESHOT_KEYS, select_oneshot
from prunelab.stats.sparsity import magnitude_stats
from prunelab.wiring.errors import StageError


def kernels() -> list[np.ndarray]:
    """A hidden kernel whose |w| are 1 ... 100 (signs alternate) and a small logits kernel."""
    hidden = np.arange(1, 101, dtype=np.float32).reshape(10, 10)
    hidden[::2] *= -1
    return [hidden, np.full((10, 2), 0.5, dtype=np.float32)]


def panel_text(axis) -> str:
    return "\n".join(text.get_text() for text in axis.texts)


def test_magnitude_figure_shows_the_evaluate_stage_statistics() -> None:
    dense = kernels()
    stats = {f"kernel_{i}": magnitude_stats(k) for i, k in enumerate(dense)}
    figure = magnitude_figure(dense, stats, [50], "title")
    hidden = figure.axes[0]
    # max 100; 1 ... 9 are below 10 % of it; the smallest half holds 42925 / 338350 of Σw².
    assert "max |w| = 100\n9% of weights < 10% of max (dotted)" in panel_text(hidden)
    assert "smallest 50% hold 12.7% of Σw²" in panel_text(hidden)
    dotted = [line for line in hidden.lines if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in dotted] == [pytest.approx(1.0)]  # log10(0.1 * 100)
    cut_offs = [line.get_xdata()[0] for line in hidden.lines if line.get_color() == "tab:red"]
    assert cut_offs == [pytest.approx(np.log10(50))]  # k = 50 removes |w| = 1 ... 50
    assert "logits: never pruned" in figure.axes[1].get_title()
    plt.close(figure)


def test_magnitude_figure_takes_the_statistics_it_is_given() -> None:
    dense = kernels()
    stats = {f"kernel_{i}": magnitude_stats(k) for i, k in enumerate(dense)}
    stats["kernel_0"] = {**stats["kernel_0"], "abs_max": 1000.0, "frac_below_10pct_max": 0.5}
    figure = magnitude_figure(dense, stats, [], "title")
    assert "max |w| = 1e+03\n50% of weights" in panel_text(figure.axes[0])
    dotted = [line for line in figure.axes[0].lines if line.get_linestyle() == ":"]
    assert dotted[0].get_xdata()[0] == pytest.approx(2.0)
    plt.close(figure)


def test_accuracy_figure_draws_each_method_at_its_measured_sparsity() -> None:
    models = {
        "weight": {50: {"sparsity": 0.4958, "test_accuracy": 0.85, "test_accuracy_min": 0.84,
                        "test_accuracy_max": 0.86},
                   0: {"sparsity": 0.0, "test_accuracy": 0.9}},
        "unit": {50: {"sparsity": 0.5, "test_accuracy": 0.7}},
    }
    figure = accuracy_figure(models, {"test_accuracy": 0.9}, 0.1, "title")
    left = figure.axes[0]
    curves = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
              for line in left.lines}
    assert curves["weight: smallest |w| per matrix"] == ([0.0, pytest.approx(49.58)], [0.9, 0.85])
    assert curves["unit: smallest-norm units per matrix"] == ([50.0], [0.7])
    assert list(curves["dense network: 0.9000 (mean)"][1]) == [0.9, 0.9]
    assert list(curves["chance level: 0.10"][1]) == [0.1, 0.1]
    assert png_bytes(figure)[:8] == b"\x89PNG\r\n\x1a\n"


def test_speed_figure_has_a_panel_per_method_and_batch_and_a_line_per_route() -> None:
    models = {"weight": {0: {"sparsity": 0.0}, 90: {"sparsity": 0.9}}}
    rows = [
        {"method": "weight", "k": k, "batch": batch, "route": route, "mac_reduction": 1 + k / 10,
         "speedup_vs_fastest_dense": speedup}
        for batch in (1, 256)
        for k, route, speedup in ((0, "numpy", 1.0), (90, "numpy", 1.5), (90, "csr", 4.0))
    ]
    figure = speed_figure(rows, models, "title")
    assert [axis.get_title() for axis in figure.axes] == [
        "weight pruning, batch 1", "weight pruning, batch 256"]
    lines = {line.get_label(): list(line.get_ydata()) for line in figure.axes[1].lines}
    assert lines["numpy"] == [1.0, 1.5] and lines["csr"] == [4.0]
    assert lines["theoretical MAC reduction"] == [1.0, 10.0]
    plt.close(figure)


def test_select_oneshot_needs_the_magnitude_statistics() -> None:
    entry = dict.fromkeys(ONESHOT_KEYS, 0.5)
    pruning = {"dense": {**entry, "params": 10, "magnitudes": {}}, "weight": {"50": entry}}
    assert select_oneshot(pruning, {"weight": [50]}, Path("p.json")) == {"weight": {50: entry}}
    del pruning["dense"]["magnitudes"]
    with pytest.raises(StageError, match="incomplete entries for dense"):
        select_oneshot(pruning, {"weight": [50]}, Path("p.json"))
