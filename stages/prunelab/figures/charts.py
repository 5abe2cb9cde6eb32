"""The study's figures: accuracy against sparsity, what retraining recovers, layer sensitivity
and speedup, drawn with matplotlib's Agg backend from already-read results.

Lines are means over seeds, bands their min-max spread; every method keeps its colour and
marker across a figure (:func:`method_styles`). :func:`png_bytes` turns a figure into PNG bytes
that depend only on the figure.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from prunelab.figures.tables import SPREAD  # noqa: E402

# Legend text of the methods this file knows; any other method is labelled by its name.
METHOD_LABEL = {
    "weight": "weight: smallest |w| per matrix",
    "unit": "unit: smallest-norm units per matrix",
    "random": "random: same counts as weight",
    "global": "global: one |w| threshold over all hidden matrices",
    "weight_refit": "weight_refit: weight mask, kept weights re-solved",
    "unit_refit": "unit_refit: units chosen for the refit, next matrix re-solved",
    "wanda": "wanda: |w|·‖x‖ per output, no refit",
}
MARKERS = ("o", "s", "v", "D", "^", "P", "X", "*")
SCHEDULE_STYLE = {
    "untuned": {"linestyle": ":", "marker": "o"},
    "oneshot": {"linestyle": "-", "marker": "s"},
    "gradual": {"linestyle": "--", "marker": "^"},
    "scratch": {"linestyle": "-.", "marker": "D"},
    "lottery": {"linestyle": (0, (6, 2)), "marker": "*"},
    "reinit": {"linestyle": (0, (1, 2)), "marker": "X"},
}
SCHEDULE_LABEL = {
    "untuned": "one-shot, no retraining",
    "oneshot": "one-shot + fine-tuning (mask fixed)",
    "gradual": "gradual (cubic schedule) + fine-tuning",
    "scratch": "control: the same widths trained from scratch",
    "lottery": "control: lottery ticket (mask on the initial weights), retrained",
    "reinit": "control: same mask, random re-init, retrained",
}
# Where each method's k labels go, in points from the marker, so the curves' labels part.
LABEL_OFFSETS = (((5, 4), "left"), ((-5, -12), "right"), ((5, -12), "left"), ((-5, 4), "right"))
DPI = 120
SPARSITY_LABEL = "sparsity: share of all weights that are zero (%)"


def method_styles(methods: list[str]) -> dict[str, dict]:
    """Colour (from one palette, by position), marker and label of each method, in order."""
    palette = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
    return {
        method: {"color": palette(index), "marker": MARKERS[index % len(MARKERS)],
                 "label": METHOD_LABEL.get(method, method)}
        for index, method in enumerate(methods)
    }


def png_bytes(figure: plt.Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    # No "Software" entry, so the bytes depend only on the figure, not the matplotlib version.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def draw_band(axis: Any, entries: dict[int, dict], ks: list[int], color: Any) -> None:
    """Shade the min-max spread over seeds of each point's test accuracy."""
    xs = [100 * entries[k]["sparsity"] for k in ks]
    low = [entries[k].get("test_accuracy_min", entries[k]["test_accuracy"]) for k in ks]
    high = [entries[k].get("test_accuracy_max", entries[k]["test_accuracy"]) for k in ks]
    axis.fill_between(xs, low, high, color=color, alpha=0.18, linewidth=0)


def accuracy_figure(
    models: dict[str, dict[int, dict]], dense: dict, chance: float, title: str
) -> plt.Figure:
    """Test accuracy against sparsity, a curve per one-shot method with its points labelled by
    k: the whole range left, a zoom on the region near the dense accuracy right."""
    figure, axes = plt.subplots(1, 2, figsize=(14, 6), dpi=DPI)
    dense_accuracy = dense["test_accuracy"]
    accuracies = [e["test_accuracy"] for entries in models.values() for e in entries.values()]
    near = dense_accuracy - 0.05
    styles = method_styles(list(models))
    for panel, axis in enumerate(axes):
        for index, (method, entries) in enumerate(models.items()):
            style = styles[method]
            ks = sorted(entries)
            xs = [100 * entries[k]["sparsity"] for k in ks]
            ys = [entries[k]["test_accuracy"] for k in ks]
            axis.plot(xs, ys, marker=style["marker"], color=style["color"],
                      label=style["label"], linewidth=1.8, markersize=6)
            draw_band(axis, entries, ks, style["color"])
            (dx, dy), align = LABEL_OFFSETS[index % len(LABEL_OFFSETS)]
            for k, x, y in zip(ks, xs, ys, strict=True):
                if panel == 1 and y < near:
                    continue
                axis.annotate(f"{k}", (x, y), xytext=(dx, dy), textcoords="offset points",
                              fontsize=8, color=style["color"], ha=align)
        axis.axhline(dense_accuracy, color="black", linestyle="--", linewidth=1,
                     label=f"dense network: {dense_accuracy:.4f} (mean)")
        axis.axhline(chance, color="grey", linestyle=":", linewidth=1.2,
                     label=f"chance level: {chance:.2f}")
        axis.set_xlim(-5, 104)
        axis.set_xlabel(SPARSITY_LABEL)
        axis.set_ylabel("test accuracy")
        axis.grid(True, alpha=0.35)
    axes[0].set_ylim(0, 1.02)
    axes[0].set_title("whole range (point labels: k = % pruned per hidden matrix; "
                      f"lines: mean, bands: {SPREAD} over seeds)", fontsize=10)
    low = max(0.0, min([near] + [a for a in accuracies if a >= near]) - 0.005)
    axes[1].set_ylim(low, min(1.0, dense_accuracy + 0.015))
    axes[1].set_title("zoom: within 5 points of the dense accuracy", fontsize=10)
    axes[0].legend(loc="lower left", fontsize=9)
    figure.suptitle(title, fontsize=12)
    figure.tight_layout()
    return figure


def _recovery_curves(axis: Any, curves: dict[str, dict[int, dict]], color: Any) -> None:
    """One method's curves, a line style per schedule; the retrained points labelled by k.

    A scratch network has exactly the live units of unit pruning at its k but none of its dead
    rows, so its own share of zeros is unit pruning's *effective* sparsity; it is drawn at the
    one-shot network's sparsity of the same k (the same architecture), where it is compared.
    """
    for schedule, entries in curves.items():
        ks = sorted(entries)
        if not ks:
            continue
        placed = curves.get("untuned", {}) if schedule == "scratch" else entries
        located = {k: {**entries[k], "sparsity": placed.get(k, entries[k])["sparsity"]}
                   for k in ks}
        style = SCHEDULE_STYLE[schedule]
        axis.plot([100 * located[k]["sparsity"] for k in ks],
                  [located[k]["test_accuracy"] for k in ks], color=color,
                  linestyle=style["linestyle"], marker=style["marker"], markersize=5,
                  label=SCHEDULE_LABEL[schedule])
        draw_band(axis, located, ks, color)
        if schedule != "untuned":
            for k in ks:
                axis.annotate(f"{k}", (100 * located[k]["sparsity"], located[k]["test_accuracy"]),
                              xytext=(-4, 5), textcoords="offset points", fontsize=8,
                              ha="right", color=color)


def recovery_figure(
    oneshot: dict[str, dict[int, dict]], tuned: dict[str, dict[str, dict[int, dict]]],
    dense: dict, chance: float, title: str,
) -> plt.Figure:
    """Per fine-tuned method a column: one-shot, fine-tuned and gradual curves with seed bands,
    the whole range above and a zoom on the retrained points below."""
    methods = list(dict.fromkeys(m for by_method in tuned.values() for m in by_method))
    styles = method_styles(list(dict.fromkeys([*oneshot, *methods])))
    columns = max(1, len(methods))
    figure, axes = plt.subplots(2, columns, figsize=(7 * columns, 10), dpi=DPI, squeeze=False)
    retrained = [e["test_accuracy"] for by_method in tuned.values()
                 for entries in by_method.values() for e in entries.values()]
    # The zoom shows the retrained points that came close to the dense network.
    low = min([a for a in retrained if a > dense["test_accuracy"] - 0.06], default=0.8) - 0.01
    for column, method in enumerate(methods):
        curves = {"untuned": oneshot.get(method, {})}
        curves.update({schedule: by_method[method] for schedule, by_method in tuned.items()
                       if method in by_method})
        for row, axis in enumerate(axes[:, column]):
            _recovery_curves(axis, curves, styles[method]["color"])
            axis.axhline(dense["test_accuracy"], color="black", linestyle="--", linewidth=1,
                         label=f"dense network: {dense['test_accuracy']:.4f} (mean)")
            axis.set_xlabel(SPARSITY_LABEL)
            axis.set_ylabel("test accuracy")
            axis.grid(True, alpha=0.35)
            if row == 0:
                axis.axhline(chance, color="grey", linestyle=":", linewidth=1.2,
                             label="chance level")
                axis.set_ylim(0, 1.02)
                axis.set_xlim(-3, 102)
                axis.set_title(f"{method} pruning", fontsize=11)
                axis.legend(loc="lower left", fontsize=9)
            else:
                axis.set_ylim(low, dense["test_accuracy"] + 0.01)
                axis.set_xlim(40, 101)
                axis.set_title(f"{method} pruning, zoom on the retrained networks", fontsize=10)
    figure.suptitle(f"{title}\nlines: mean over seeds, bands: {SPREAD}; labels: k", fontsize=11)
    figure.tight_layout()
    return figure


def sensitivity_figure(sensitivity: dict, methods: list[str], ks: list[int], title: str
                       ) -> plt.Figure:
    """Per method a heat map: hidden kernel x k -> mean test accuracy (others dense)."""
    figure, axes = plt.subplots(1, len(methods), figsize=(6.5 * len(methods), 3.6), dpi=DPI,
                                squeeze=False)
    for axis, method in zip(axes[0], methods, strict=True):
        layers = sorted(sensitivity[method], key=lambda name: int(name.split("_")[1]))
        grid = np.array([[sensitivity[method][layer][str(k)]["test_accuracy"] for k in ks]
                         for layer in layers])
        image = axis.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for (row, column), value in np.ndenumerate(grid):
            axis.text(column, row, f"{value:.3f}", ha="center", va="center", fontsize=8,
                      color="black" if value > 0.6 else "white")
        axis.set_xticks(range(len(ks)), [str(k) for k in ks])
        axis.set_yticks(range(len(layers)), layers)
        axis.set_xlabel("k: % of this one matrix pruned (the others dense)")
        axis.set_title(f"{method} pruning", fontsize=11)
        figure.colorbar(image, ax=axis, label="test accuracy (mean over seeds)")
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure


def _speed_panel(axis: Any, cell: list[dict], entries: dict[int, dict], routes: list[str]
                 ) -> None:
    """One (method, batch) panel: a line per route, and the best theoretical MAC reduction."""
    palette = plt.get_cmap("tab10" if len(routes) <= 10 else "tab20")
    for index, route in enumerate(routes):
        points = sorted((100 * entries[row["k"]]["sparsity"], row["speedup_vs_fastest_dense"])
                        for row in cell if row["route"] == route)
        if points:
            xs, ys = zip(*points, strict=True)
            axis.plot(xs, ys, "-", marker=MARKERS[index % len(MARKERS)], markersize=4,
                      color=palette(index), label=route)
    best: dict[int, float] = {}
    for row in cell:
        best[row["k"]] = max(best.get(row["k"], 0.0), row["mac_reduction"])
    if best:
        ks = sorted(best)
        axis.plot([100 * entries[k]["sparsity"] for k in ks], [best[k] for k in ks], ":",
                  color="black", linewidth=1.2, label="theoretical MAC reduction")
    axis.axhline(1.0, color="grey", linewidth=1)


def speed_figure(rows: list[dict], models: dict[str, dict[int, dict]], title: str) -> plt.Figure:
    """Speedup vs sparsity, one panel per (method, batch size), one line per route with one
    colour per route across all panels; the dotted black line is the theoretical MAC reduction
    of what the method's best route executes."""
    batches = sorted({row["batch"] for row in rows})
    methods = list(dict.fromkeys(row["method"] for row in rows if row["method"] in models))
    routes = sorted({row["route"] for row in rows})
    figure, axes = plt.subplots(len(methods), len(batches), dpi=DPI, squeeze=False,
                                figsize=(5.2 * len(batches), 4.2 * len(methods)), sharey=True)
    for row_index, method in enumerate(methods):
        for axis, batch in zip(axes[row_index], batches, strict=True):
            cell = [row for row in rows if row["batch"] == batch and row["method"] == method
                    and row["k"] in models[method]]
            _speed_panel(axis, cell, models[method], routes)
            axis.set_yscale("log")
            axis.set_xlim(-3, 102)
            axis.set_title(f"{method} pruning, batch {batch}", fontsize=11)
            axis.set_xlabel(SPARSITY_LABEL)
            axis.set_ylabel("speedup vs the fastest dense route (×)")
            axis.grid(True, which="both", alpha=0.3)
            if any(line.get_label() != "_nolegend_" for line in axis.get_lines()):
                axis.legend(loc="upper left", fontsize=7, ncol=2)
    figure.suptitle(title + "\none colour per route (the same in every panel); "
                    "dotted: theoretical MAC reduction", fontsize=11)
    figure.tight_layout()
    return figure
