"""Stage plot: the figures and Markdown tables of the study.

Reads the metrics of the evaluate and sensitivity stages for exactly what the params file
lists (never by listing anything), the first seed's dense kernels, and optionally the
benchmark's CSV. Lines are means over ``train.seeds``, bands their min-max spread. Writes, all
or nothing:

* ``--png``: test accuracy against measured sparsity (share of all weights that are zero), one
  curve per one-shot method, points labelled by k, with the dense accuracy and chance level;
  left the whole range, right a zoom on the region near the dense accuracy.
* ``--magnitudes-png``: per dense kernel, a histogram of ``log10|w|`` with the cut-offs of weight
  pruning at each k, and the share of each kernel's ``sum(w**2)`` that removing its smallest
  weights deletes (why most weights can go).
* ``--table``: Markdown, one row per k: per method sparsity and accuracy; unit pruning's
  effective sparsity and theoretical MAC reduction of the shrunk network.
* ``--recovery-png`` / ``--finetune-table``: per method one-shot vs fine-tuned (and gradual).
* ``--sensitivity-png`` / ``--sensitivity-table``: hidden matrix x k -> accuracy heat maps.
* with ``--benchmark``: ``--speed-png`` (a panel per method and batch size, a colour per
  route) and ``--speed-table``.
* with ``--train-logs``: ``--training-csv``, every seed's per-epoch loss and accuracy (train and
  validation) in one long table, for ``dvc plots``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from prunelab.atomic import write_files  # noqa: E402
from prunelab.curves import COUNTERPART, finetuned_curves, oneshot_curves  # noqa: E402
from prunelab.layout import dense_path  # noqa: E402
from prunelab.params import ParamsError, load_params  # noqa: E402
from prunelab.pruning import count_to_prune  # noqa: E402
from prunelab.weights import WeightsError, load_kernels  # noqa: E402

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


def method_styles(methods: list[str]) -> dict[str, dict]:
    """Colour (from one palette, by position), marker and label of each method, in order."""
    palette = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
    return {
        method: {"color": palette(index), "marker": MARKERS[index % len(MARKERS)],
                 "label": METHOD_LABEL.get(method, method)}
        for index, method in enumerate(methods)
    }
SCHEDULE_STYLE = {
    "untuned": {"linestyle": ":", "marker": "o"},
    "oneshot": {"linestyle": "-", "marker": "s"},
    "gradual": {"linestyle": "--", "marker": "^"},
}
SCHEDULE_LABEL = {
    "untuned": "one-shot, no retraining",
    "oneshot": "one-shot + fine-tuning (mask fixed)",
    "gradual": "gradual (cubic schedule) + fine-tuning",
}
# Where each method's k labels go, in points from the marker, so the curves' labels part.
LABEL_OFFSETS = (((5, 4), "left"), ((-5, -12), "right"), ((5, -12), "left"), ((-5, 4), "right"))
DPI = 120


class PlotError(RuntimeError):
    """A problem with the stage's inputs; the message says what to do."""


def read_json(path: Path, made_by: str) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise PlotError(f"{path} is missing: run `dvc repro` (the {made_by} stage)") from None
    except (OSError, json.JSONDecodeError) as error:
        raise PlotError(f"cannot read {path}: {error} (rerun the {made_by} stage)") from None
    if not isinstance(document, dict):
        raise PlotError(f"{path} is not a JSON object (rerun the {made_by} stage)")
    return document


def select(pruning: dict, curves: dict[str, list[int]], path: Path) -> dict[str, dict]:
    """``{method: {k: entry}}`` for exactly the params' models (``prunelab.curves.oneshot_curves``),
    or a :class:`PlotError`."""
    missing = [
        f"{m}/{k}"
        for m, ks in curves.items()
        for k in ks
        if not isinstance(pruning.get(m), dict) or str(k) not in pruning[m]
    ] + ([] if "dense" in pruning else ["dense"])
    if missing:
        raise PlotError(
            f"{path} has no entry for {', '.join(missing)}: it is older than params.yaml; "
            "run `dvc repro` (the evaluate stage)"
        )
    models = {m: {k: pruning[m][str(k)] for k in ks} for m, ks in curves.items()}
    needed = ("test_accuracy", "test_accuracy_min", "test_accuracy_max", "test_loss", "sparsity",
              "effective_sparsity", "mac_reduction")
    entries = [("dense", pruning["dense"])] + [
        (f"{m}/{k}", models[m][k]) for m, ks in curves.items() for k in ks
    ]
    incomplete = [
        name
        for name, entry in entries
        if not isinstance(entry, dict) or any(key not in entry for key in needed)
    ]
    if incomplete or "params" not in pruning["dense"]:
        raise PlotError(
            f"{path}: incomplete entries for {', '.join(incomplete) or 'dense'}: "
            "rerun the evaluate stage (`dvc repro`)"
        )
    return models


def accuracy_figure(
    models: dict[str, dict[int, dict]], dense: dict, chance: float, title: str
) -> plt.Figure:
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
            axis.plot(xs, ys, marker=style.get("marker", "o"), color=style.get("color"),
                      label=style["label"], linewidth=1.8, markersize=6)
            draw_band(axis, entries, ks, style.get("color"))
            (dx, dy), align = LABEL_OFFSETS[index % len(LABEL_OFFSETS)]
            for k, x, y in zip(ks, xs, ys):
                if panel == 1 and y < near:
                    continue
                axis.annotate(f"{k}", (x, y), xytext=(dx, dy), textcoords="offset points",
                              fontsize=8, color=style.get("color"), ha=align)
        axis.axhline(dense_accuracy, color="black", linestyle="--", linewidth=1,
                     label=f"dense network: {dense_accuracy:.4f} (mean)")
        axis.axhline(chance, color="grey", linestyle=":", linewidth=1.2,
                     label=f"chance level: {chance:.2f}")
        axis.set_xlim(-5, 104)
        axis.set_xlabel("sparsity: share of all weights that are zero (%)")
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


SPREAD = "min-max"


def draw_band(axis: Any, entries: dict[int, dict], ks: list[int], color: Any) -> None:
    """Shade the min-max spread over seeds of each point's test accuracy."""
    xs = [100 * entries[k]["sparsity"] for k in ks]
    low = [entries[k].get("test_accuracy_min", entries[k]["test_accuracy"]) for k in ks]
    high = [entries[k].get("test_accuracy_max", entries[k]["test_accuracy"]) for k in ks]
    axis.fill_between(xs, low, high, color=color, alpha=0.18, linewidth=0)


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
    retrained = [e["test_accuracy"] for by_method in tuned.values() for entries in by_method.values()
                 for e in entries.values()]
    # The zoom shows the retrained points that came close to the dense network.
    low = min([a for a in retrained if a > dense["test_accuracy"] - 0.06], default=0.8) - 0.01
    for column, method in enumerate(methods):
        color = styles[method]["color"]
        curves = {"untuned": oneshot.get(method, {})}
        curves.update({schedule: by_method[method] for schedule, by_method in tuned.items()
                       if method in by_method})
        for row, axis in enumerate(axes[:, column]):
            for schedule, entries in curves.items():
                ks = sorted(entries)
                if not ks:
                    continue
                style = SCHEDULE_STYLE[schedule]
                axis.plot([100 * entries[k]["sparsity"] for k in ks],
                          [entries[k]["test_accuracy"] for k in ks], color=color,
                          linestyle=style["linestyle"], marker=style["marker"], markersize=5,
                          label=SCHEDULE_LABEL[schedule])
                draw_band(axis, entries, ks, color)
                if schedule != "untuned":
                    for k in ks:
                        axis.annotate(f"{k}", (100 * entries[k]["sparsity"],
                                               entries[k]["test_accuracy"]),
                                      xytext=(-4, 5), textcoords="offset points", fontsize=8,
                                      ha="right", color=color)
            axis.axhline(dense["test_accuracy"], color="black", linestyle="--", linewidth=1,
                         label=f"dense network: {dense['test_accuracy']:.4f} (mean)")
            axis.set_xlabel("sparsity: share of all weights that are zero (%)")
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


def _spread(entry: dict) -> str:
    return (f"{entry['test_accuracy']:.4f} ({entry['test_accuracy_min']:.4f}–"
            f"{entry['test_accuracy_max']:.4f})")


def finetune_table(
    oneshot: dict[str, dict[int, dict]], tuned: dict[str, dict[str, dict[int, dict]]],
    dense: dict, seeds: list[int],
) -> str:
    """Markdown: per method and k, accuracy one-shot vs fine-tuned (and gradual), time spent."""
    lines = [
        "# Fine-tuning after pruning",
        "",
        f"Test accuracy, mean over seeds {seeds} ({SPREAD} in brackets). Dense network: "
        f"{_spread(dense)}. Fine-tuned: the pruned network retrained with its mask fixed; "
        "gradual: sparsity raised from 0 to k along the cubic schedule while retraining. "
        "Time: seconds of retraining per seed.",
        "",
        "| method | k (%) | sparsity | one-shot | fine-tuned | gain | time | gradual | time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fine, gradual = tuned.get("oneshot", {}), tuned.get("gradual", {})
    for method in dict.fromkeys([*fine, *gradual]):
        for k in sorted(set(fine.get(method, {})) | set(gradual.get(method, {}))):
            cells = [method, str(k)]
            tuned_entry = fine.get(method, {}).get(k)
            gradual_entry = gradual.get(method, {}).get(k)
            any_entry = tuned_entry or gradual_entry
            base = oneshot.get(method, {}).get(k)
            cells.append(_percent(any_entry["sparsity"]))
            cells.append(_spread(base) if base else "—")
            for entry, with_gain in ((tuned_entry, True), (gradual_entry, False)):
                if entry is None:
                    cells += ["—"] * (3 if with_gain else 2)
                    continue
                cells.append(_spread(entry))
                if with_gain:
                    gain = entry.get("gain_over_oneshot")
                    cells.append("—" if gain is None else f"{100 * gain:+.2f} pt")
                cells.append(f"{entry['finetune_seconds']:.0f} s")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def sensitivity_figure(sensitivity: dict, methods: list[str], ks: list[int], title: str
                       ) -> plt.Figure:
    """Per method a heat map: hidden kernel x k -> mean test accuracy (others dense)."""
    figure, axes = plt.subplots(1, len(methods), figsize=(6.5 * len(methods), 3.6), dpi=DPI,
                                squeeze=False)
    for axis, method in zip(axes[0], methods):
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


def sensitivity_table(sensitivity: dict, methods: list[str], ks: list[int]) -> str:
    lines = [
        "# Layer sensitivity",
        "",
        "Test accuracy with one hidden matrix pruned and the others dense: mean over seeds "
        f"{sensitivity['seeds']} ({SPREAD} in brackets). kernel_0 is 784×1000, kernel_1 "
        "1000×1000, kernel_2 1000×500, kernel_3 500×200.",
        "",
        "| method | matrix | " + " | ".join(f"k={k}" for k in ks) + " |",
        "|---|---|" + "---:|" * len(ks),
    ]
    for method in methods:
        for layer, row in sorted(sensitivity[method].items()):
            lines.append(f"| {method} | {layer} | "
                         + " | ".join(_spread(row[str(k)]) for k in ks) + " |")
    return "\n".join(lines) + "\n"


def _label_positions(cuts: list[tuple[int, float]], gap: float) -> list[tuple[int, float]]:
    """The (k, x) cut-offs to label, left to right, skipping any closer than ``gap`` to the last."""
    chosen: list[tuple[int, float]] = []
    for k, x in sorted(cuts, key=lambda item: item[1]):
        if not chosen or x - chosen[-1][1] >= gap:
            chosen.append((k, x))
    return chosen


def magnitude_figure(dense: list[np.ndarray], ks: list[int], title: str) -> plt.Figure:
    """Per kernel a histogram of log10|w|; last panel: share of sum(w**2) removed vs k."""
    columns = 3
    rows = -(-(len(dense) + 1) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(15, 4.2 * rows), dpi=DPI, squeeze=False)
    flat = axes.ravel()
    cut_ks = [k for k in sorted(ks) if k > 0]
    for index, kernel in enumerate(dense):
        axis = flat[index]
        ordered = np.sort(np.abs(kernel.astype(np.float64)).ravel())
        nonzero = ordered[ordered > 0]
        logits = index == len(dense) - 1
        name = f"kernel_{index} ({kernel.shape[0]}×{kernel.shape[1]})"
        axis.set_title(name + (", logits: never pruned" if logits else ""), fontsize=10)
        if nonzero.size == 0:
            axis.text(0.5, 0.5, "all weights are zero", ha="center", transform=axis.transAxes)
            continue
        logs = np.log10(nonzero)
        # The far-left tail (a few tiny weights) would squash the bulk: show from the 0.1 %
        # quantile; the clipped weights are counted in the leftmost bin.
        low, high = float(np.quantile(logs, 0.001)), float(logs[-1])
        low, high = (low - 0.5, high + 0.5) if high - low < 1e-9 else (low, high)
        axis.hist(np.clip(logs, low, None), bins=80, range=(low, high),
                  color="tab:gray" if logits else "tab:blue", alpha=0.8)
        largest = float(ordered[-1])
        axis.axvline(np.log10(0.1 * largest), color="black", linestyle=":", linewidth=1.2)
        below = np.count_nonzero(ordered < 0.1 * largest) / ordered.size
        squares = ordered**2
        half = float(squares[: ordered.size // 2].sum() / squares.sum())
        axis.text(
            0.02, 0.97,
            f"max |w| = {largest:.3g}\n{below:.0%} of weights < 10% of max (dotted)\n"
            f"smallest 50% hold {half:.1%} of Σw²",
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
    lorenz = flat[len(dense)]
    for index, kernel in enumerate(dense):
        squares = np.sort(np.abs(kernel.astype(np.float64)).ravel()) ** 2
        if squares.size == 0 or squares.sum() == 0:
            continue
        removed = np.concatenate([[0.0], np.cumsum(squares) / squares.sum()])
        share = np.linspace(0, 100, removed.size)
        step = max(1, removed.size // 2000)  # a few thousand points draw the same curve
        lorenz.plot(share[::step], 100 * removed[::step], label=f"kernel_{index}")
    lorenz.plot([0, 100], [0, 100], color="grey", linestyle=":", linewidth=1,
                label="all |w| equal")
    for k in cut_ks:
        lorenz.axvline(k, color="tab:red", linewidth=0.6, alpha=0.35)
    lorenz.set_title("weight pruning: share of Σw² removed vs k", fontsize=10)
    lorenz.set_xlabel("smallest-|w| weights removed (%)")
    lorenz.set_ylabel("share of the layer's Σw² removed (%)")
    lorenz.set_xlim(0, 100)
    lorenz.set_ylim(0, 100)
    lorenz.grid(True, alpha=0.3)
    lorenz.legend(fontsize=8, loc="upper left")
    for axis in flat[len(dense) + 1 :]:
        axis.axis("off")
    figure.suptitle(
        title + "\nred lines: |w| cut-off of weight pruning at k % of each hidden matrix "
        "(labels: k)",
        fontsize=11,
    )
    figure.tight_layout()
    return figure


def _percent(value: float) -> str:
    return f"{100 * value:.2f} %"


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def results_table(
    models: dict[str, dict[int, dict]], dense: dict, ks: list[int], dataset: str, examples: Any,
    seeds: list[int],
) -> str:
    """Markdown: a short header, then one row per k with each method's figures."""
    columns = ["k (%)"]
    for method in models:
        columns += [f"{method} sparsity", f"{method} accuracy"]
    if "unit" in models:
        columns += ["unit eff. sparsity", "unit MAC red."]
    lines = [
        "# Pruning results",
        "",
        f"Test set: {examples} examples of {dataset}. Accuracy: mean over seeds {seeds} "
        f"({SPREAD} in brackets). Dense network: accuracy {_spread(dense)}, "
        f"{dense['params']:,} weights.",
        "",
        "k = percentage removed from each hidden matrix (the logits matrix is never pruned). "
        "Sparsity = share of all weights that are zero; eff. sparsity also counts the weights "
        "of dead units (no input or no reader). MAC red. = dense MACs / MACs of the network "
        "with dead units removed, run as dense matrix products.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---:" for _ in columns) + "|",
    ]
    for k in ks:
        cells = [str(k)]
        for entries in models.values():
            entry = entries.get(k)
            cells += ["—", "—"] if entry is None else [_percent(entry["sparsity"]), _spread(entry)]
        if "unit" in models and k in models["unit"]:
            unit = models["unit"][k]
            cells += [_percent(unit["effective_sparsity"]), _times(unit["mac_reduction"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def reconstruction_table(models: dict[str, dict[int, dict]], methods: list[str]) -> str:
    """Markdown: each data-aware method beside the magnitude method whose counts it shares."""
    pairs = [(COUNTERPART[m], m) for m in methods if COUNTERPART.get(m) in models]
    ks = sorted({k for _, method in pairs for k in models[method]})
    columns = ["k (%)"] + [name for pair in pairs for name in pair]
    lines = [
        "## One-shot pruning with calibration data (no gradient step)",
        "",
        "Each data-aware method beside the magnitude method it shares its counts with. "
        "Accuracy: mean over seeds (min–max).",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---:" for _ in columns) + "|",
    ]
    for k in ks:
        cells = [str(k)]
        for pair in pairs:
            cells += [_spread(models[m][k]) if k in models[m] else "—" for m in pair]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def read_benchmark(path: Path) -> list[dict[str, Any]]:
    """The benchmark stage's tidy CSV, numbers parsed."""
    try:
        with path.open(newline="") as stream:
            rows = list(csv.DictReader(stream))
    except FileNotFoundError:
        raise PlotError(f"{path} is missing: run `dvc repro` (the benchmark stage)") from None
    needed = {"method", "k", "batch", "route", "latency_ms", "speedup_vs_fastest_dense",
              "speedup_vs_library_dense", "mac_reduction", "fastest_dense_route"}
    if not rows or not needed <= set(rows[0]):
        raise PlotError(f"{path} lacks the columns {sorted(needed)}: rerun the benchmark stage")
    for row in rows:
        row["k"], row["batch"] = int(row["k"]), int(row["batch"])
        for key in ("latency_ms", "speedup_vs_fastest_dense", "speedup_vs_library_dense",
                    "mac_reduction"):
            row[key] = float(row[key])
    return rows


def speed_figure(rows: list[dict], models: dict[str, dict[int, dict]], title: str) -> plt.Figure:
    """Speedup vs sparsity, one panel per (method, batch size), one line per route with one
    colour per route across all panels; the dotted black line is the theoretical MAC reduction
    of what the method's best route executes."""
    batches = sorted({row["batch"] for row in rows})
    methods = list(dict.fromkeys(row["method"] for row in rows if row["method"] in models))
    routes = sorted({row["route"] for row in rows})
    palette = plt.get_cmap("tab10" if len(routes) <= 10 else "tab20")
    color_of = {route: palette(index) for index, route in enumerate(routes)}
    marker_of = {route: MARKERS[index % len(MARKERS)] for index, route in enumerate(routes)}
    figure, axes = plt.subplots(len(methods), len(batches), dpi=DPI, squeeze=False,
                                figsize=(5.2 * len(batches), 4.2 * len(methods)), sharey=True)
    for row_index, method in enumerate(methods):
        for axis, batch in zip(axes[row_index], batches):
            cell = [row for row in rows if row["batch"] == batch and row["method"] == method
                    and row["k"] in models[method]]
            for route in routes:
                points = sorted((100 * models[method][row["k"]]["sparsity"],
                                 row["speedup_vs_fastest_dense"])
                                for row in cell if row["route"] == route)
                if points:
                    xs, ys = zip(*points)
                    axis.plot(xs, ys, "-", marker=marker_of[route], markersize=4,
                              color=color_of[route], label=route)
            best: dict[int, float] = {}
            for row in cell:
                best[row["k"]] = max(best.get(row["k"], 0.0), row["mac_reduction"])
            if best:
                ks = sorted(best)
                axis.plot([100 * models[method][k]["sparsity"] for k in ks],
                          [best[k] for k in ks], ":", color="black", linewidth=1.2,
                          label="theoretical MAC reduction")
            axis.axhline(1.0, color="grey", linewidth=1)
            axis.set_yscale("log")
            axis.set_xlim(-3, 102)
            axis.set_title(f"{method} pruning, batch {batch}", fontsize=11)
            axis.set_xlabel("sparsity: share of all weights that are zero (%)")
            axis.set_ylabel("speedup vs the fastest dense route (×)")
            axis.grid(True, which="both", alpha=0.3)
            if any(line.get_label() != "_nolegend_" for line in axis.get_lines()):
                axis.legend(loc="upper left", fontsize=7, ncol=2)
    figure.suptitle(title + "\none colour per route (the same in every panel); "
                    "dotted: theoretical MAC reduction", fontsize=11)
    figure.tight_layout()
    return figure


def speed_table(rows: list[dict], methods: list[str], ks: list[int]) -> str:
    """Markdown: per (method, k) and batch, the fastest route, its latency and speedups."""
    batches = sorted({row["batch"] for row in rows})
    columns = ["method", "k (%)", "MAC red. (limit)"]
    for batch in batches:
        columns += [f"batch {batch}: fastest route", "latency", "vs fastest dense",
                    "vs numpy/TF/LiteRT dense"]
    lines = [
        "# Speed of the pruned networks",
        "",
        "Median latency of the fastest route for each model, and its speedup against the fastest "
        "dense route measured in the same run (and against the fastest off-the-shelf dense "
        "runtime: numpy, TensorFlow, LiteRT). MAC red. = theoretical reduction of what the route "
        "executes (the best over routes). All routes in `metrics/benchmark.csv`.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(["---", "---:", "---:"] + ["---", "---:", "---:", "---:"] * len(batches))
        + "|",
    ]
    for method in methods:
        for k in ks:
            cells = [row for row in rows if row["method"] == method and row["k"] == k]
            if not cells:
                continue
            limit = max(row["mac_reduction"] for row in cells)
            line = [method, str(k), f"{limit:.1f}×"]
            for batch in batches:
                candidates = [row for row in cells if row["batch"] == batch]
                if not candidates:
                    line += ["—"] * 4
                    continue
                best = min(candidates, key=lambda row: row["latency_ms"])
                latency = best["latency_ms"]
                shown = f"{latency * 1000:.1f} µs" if latency < 1 else f"{latency:.2f} ms"
                line += [best["route"], shown, f"{best['speedup_vs_fastest_dense']:.1f}×",
                         f"{best['speedup_vs_library_dense']:.1f}×"]
            lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines) + "\n"


TRAINING_SPLITS = {"train": "train", "eval": "validation"}  # dvclive folder -> split
TRAINING_QUANTITIES = ("loss", "accuracy")


def training_table(train_dir: Path, seeds: list[int]) -> str:
    """Long-format CSV of every seed's per-epoch curves (dvclive's
    ``<train_dir>/seed-<s>/plots/metrics/{train,eval}/<quantity>.tsv``): one row per seed, split
    and epoch, for one overlaid plot per quantity in ``dvc plots show``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["seed", "split", "epoch", *TRAINING_QUANTITIES])
    for seed in seeds:
        for folder, split in TRAINING_SPLITS.items():
            columns: dict[str, dict[int, str]] = {}
            for quantity in TRAINING_QUANTITIES:
                path = train_dir / f"seed-{seed}" / "plots" / "metrics" / folder / f"{quantity}.tsv"
                try:
                    with path.open(newline="") as stream:
                        table = list(csv.DictReader(stream, delimiter="\t"))
                except FileNotFoundError:
                    raise PlotError(f"{path} is missing: run `dvc repro` (train@{seed})") from None
                columns[quantity] = {int(row["step"]): row[quantity] for row in table}
            for step in sorted(columns[TRAINING_QUANTITIES[0]]):
                writer.writerow([f"seed {seed}", split, step + 1,
                                 *[columns[q].get(step, "") for q in TRAINING_QUANTITIES]])
    return buffer.getvalue()


def png_bytes(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" entry, so the bytes depend only on the figure, not the matplotlib version.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def select_tuned(document: dict, params: dict, path: Path) -> dict[str, dict[str, dict[int, dict]]]:
    """``{schedule: {method: {k: entry}}}`` for exactly the fine-tuning the params ask for."""
    wanted = [
        (schedule, method, k)
        for (schedule, method), ks in finetuned_curves(params).items()
        for k in ks
    ]
    tuned: dict[str, dict[str, dict[int, dict]]] = {}
    missing = []
    for schedule, method, k in wanted:
        entry = document.get(schedule, {}).get(method, {}).get(str(k))
        if not isinstance(entry, dict) or "finetune_seconds" not in entry:
            missing.append(f"{schedule}/{method}/{k}")
            continue
        tuned.setdefault(schedule, {}).setdefault(method, {})[k] = entry
    if missing:
        raise PlotError(
            f"{path} has no entry for {', '.join(missing)}: it is older than params.yaml; "
            "run `dvc repro` (the evaluate stage)"
        )
    return tuned


def build(args: argparse.Namespace) -> dict[Path, bytes]:
    params = load_params(args.params)
    oneshot = oneshot_curves(params)
    methods, ks = list(oneshot), sorted({k for ks in oneshot.values() for k in ks})
    seeds = params["train"]["seeds"]
    pruning = read_json(args.pruning, "evaluate")
    models = select(pruning, oneshot, args.pruning)
    tuned = select_tuned(read_json(args.finetune, "evaluate"), params, args.finetune)
    sensitivity = read_json(args.sensitivity, "sensitivity")
    sensitivity_methods = params["sensitivity"]["methods"]
    sensitivity_ks = sorted(params["sensitivity"]["ks"])
    if any(str(k) not in sensitivity.get(m, {}).get("kernel_0", {})
           for m in sensitivity_methods for k in sensitivity_ks):
        raise PlotError(f"{args.sensitivity} is older than params.yaml: run `dvc repro`")
    try:
        dense_kernels = load_kernels(dense_path(args.models, seeds[0]))
    except WeightsError as error:
        raise PlotError(str(error)) from None

    dense = pruning["dense"]
    widths = [dense_kernels[0].shape[0]] + [kernel.shape[1] for kernel in dense_kernels]
    sizes = "-".join(str(n) for n in widths)
    dataset = params["data"]["dataset"]
    network = f"{dataset}, MLP {sizes}"
    title = f"{network}: test accuracy after one-shot pruning, {len(seeds)} seeds"
    chance = 1.0 / dense_kernels[-1].shape[1]
    outputs = {
        args.png: png_bytes(accuracy_figure(models, dense, chance, title)),
        args.magnitudes_png: png_bytes(
            magnitude_figure(
                dense_kernels,
                ks if "weight" in methods else [],
                f"{network}: magnitudes of the dense weights (seed {seeds[0]})",
            )
        ),
        args.table: (
            results_table(
                {m: models[m] for m in params["prune"]["methods"]}, dense, ks, dataset,
                pruning.get("test_examples", "?"), seeds,
            )
            + "\n"
            + reconstruction_table(models, params["reconstruct"]["methods"])
        ).encode(),
        args.recovery_png: png_bytes(recovery_figure(
            models, tuned, dense, chance, f"{network}: what retraining recovers")),
        args.finetune_table: finetune_table(models, tuned, dense, seeds).encode(),
        args.sensitivity_png: png_bytes(sensitivity_figure(
            sensitivity, sensitivity_methods, sensitivity_ks,
            f"{network}: one hidden matrix pruned at a time, the others dense")),
        args.sensitivity_table: sensitivity_table(
            sensitivity, sensitivity_methods, sensitivity_ks).encode(),
    }
    if args.train_logs:
        outputs[args.training_csv] = training_table(args.train_logs, seeds).encode()
    if args.benchmark:
        rows = read_benchmark(args.benchmark)
        outputs[args.speed_png] = png_bytes(speed_figure(
            rows, models, f"{network}: inference speedup of the pruned networks"))
        outputs[args.speed_table] = speed_table(rows, methods, ks).encode()
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--pruning", type=Path, required=True, help="evaluate's pruning JSON")
    parser.add_argument("--finetune", type=Path, required=True, help="evaluate's fine-tuning JSON")
    parser.add_argument("--sensitivity", type=Path, required=True, help="sensitivity's JSON")
    parser.add_argument("--models", type=Path, required=True, help="folder of seed-<s>/dense.npz")
    parser.add_argument("--png", type=Path, required=True, help="output accuracy figure")
    parser.add_argument("--magnitudes-png", type=Path, required=True, help="output histograms")
    parser.add_argument("--table", type=Path, required=True, help="output Markdown table")
    parser.add_argument("--recovery-png", type=Path, required=True, help="output fine-tuning figure")
    parser.add_argument("--finetune-table", type=Path, required=True, help="output Markdown table")
    parser.add_argument("--sensitivity-png", type=Path, required=True, help="output heat maps")
    parser.add_argument("--sensitivity-table", type=Path, required=True,
                        help="output Markdown table")
    parser.add_argument("--benchmark", type=Path, help="the benchmark stage's CSV (optional)")
    parser.add_argument("--speed-png", type=Path, help="output speedup figure (with --benchmark)")
    parser.add_argument("--speed-table", type=Path, help="output speed table (with --benchmark)")
    parser.add_argument("--train-logs", type=Path,
                        help="the train stage's metrics folder (seed-<s>/plots/metrics, dvclive)")
    parser.add_argument("--training-csv", type=Path,
                        help="output long-format CSV of every seed's training curves")
    args = parser.parse_args(argv)
    if args.train_logs and not args.training_csv:
        parser.error("--train-logs needs --training-csv")
    if args.benchmark and not (args.speed_png and args.speed_table):
        parser.error("--benchmark needs --speed-png and --speed-table")
    try:
        files = build(args)
    except (ParamsError, PlotError) as error:
        print(f"plot: error: {error}", file=sys.stderr)
        return 1
    write_files(files)
    print(f"plot: wrote {', '.join(str(path) for path in files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
