"""Stage plot: accuracy-vs-sparsity figure, dense weight-magnitude histograms, results table.

Reads the metrics of the evaluate stage for exactly ``prune.methods`` x ``prune.ks`` of the
params file (never by listing anything), the train stage's metrics, and the dense kernels.
Writes, all or nothing:

* ``--png``: test accuracy against measured sparsity (share of all weights that are zero), one
  curve per method, points labelled by k, with the dense accuracy and chance level; left the
  whole range, right a zoom on the region near the dense accuracy.
* ``--magnitudes-png``: per dense kernel, a histogram of ``log10|w|`` with the cut-offs of weight
  pruning at each k, and the share of each kernel's ``sum(w**2)`` that removing its smallest
  weights deletes (why most weights can go).
* ``--table``: Markdown, one row per k, per method sparsity, effective sparsity, accuracy, loss
  and theoretical MAC reduction of the shrunk network.
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
from prunelab.params import ParamsError, load_params  # noqa: E402
from prunelab.pruning import count_to_prune  # noqa: E402
from prunelab.weights import WeightsError, load_kernels  # noqa: E402

METHOD_STYLE = {
    "weight": {"color": "tab:blue", "marker": "o", "label": "weight: smallest |w| per matrix"},
    "unit": {"color": "tab:red", "marker": "s", "label": "unit: smallest-norm units per matrix"},
}
# Where each method's k labels go, in points from the marker, so the two curves' labels part.
LABEL_OFFSETS = (((5, 4), "left"), ((-5, -12), "right"))
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


def select(pruning: dict, methods: list[str], ks: list[int], path: Path) -> dict[str, dict]:
    """``{method: {k: entry}}`` for exactly the params' models, or a :class:`PlotError`."""
    missing = [
        f"{m}/{k}"
        for m in methods
        for k in ks
        if not isinstance(pruning.get(m), dict) or str(k) not in pruning[m]
    ] + ([] if "dense" in pruning else ["dense"])
    if missing:
        raise PlotError(
            f"{path} has no entry for {', '.join(missing)}: it is older than params.yaml; "
            "run `dvc repro` (the evaluate stage)"
        )
    models = {m: {k: pruning[m][str(k)] for k in ks} for m in methods}
    needed = ("test_accuracy", "test_loss", "sparsity", "effective_sparsity", "mac_reduction")
    entries = [("dense", pruning["dense"])] + [
        (f"{m}/{k}", models[m][k]) for m in methods for k in ks
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
    for panel, axis in enumerate(axes):
        for index, (method, entries) in enumerate(models.items()):
            style = METHOD_STYLE.get(method, {"label": method})
            ks = sorted(entries)
            xs = [100 * entries[k]["sparsity"] for k in ks]
            ys = [entries[k]["test_accuracy"] for k in ks]
            axis.plot(xs, ys, marker=style.get("marker", "o"), color=style.get("color"),
                      label=style["label"], linewidth=1.8, markersize=6)
            (dx, dy), align = LABEL_OFFSETS[index % len(LABEL_OFFSETS)]
            for k, x, y in zip(ks, xs, ys):
                if panel == 1 and y < near:
                    continue
                axis.annotate(f"{k}", (x, y), xytext=(dx, dy), textcoords="offset points",
                              fontsize=8, color=style.get("color"), ha=align)
        axis.axhline(dense_accuracy, color="black", linestyle="--", linewidth=1,
                     label=f"dense network: {dense_accuracy:.4f}")
        axis.axhline(chance, color="grey", linestyle=":", linewidth=1.2,
                     label=f"chance level: {chance:.2f}")
        axis.set_xlim(-5, 104)
        axis.set_xlabel("sparsity: share of all weights that are zero (%)")
        axis.set_ylabel("test accuracy")
        axis.grid(True, alpha=0.35)
    axes[0].set_ylim(0, 1.02)
    axes[0].set_title("whole range (point labels: k = % pruned per hidden matrix)", fontsize=10)
    low = max(0.0, min([near] + [a for a in accuracies if a >= near]) - 0.005)
    axes[1].set_ylim(low, min(1.0, dense_accuracy + 0.015))
    axes[1].set_title("zoom: within 5 points of the dense accuracy", fontsize=10)
    axes[0].legend(loc="lower left", fontsize=9)
    figure.suptitle(title, fontsize=12)
    figure.tight_layout()
    return figure


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
    models: dict[str, dict[int, dict]], dense: dict, ks: list[int], dataset: str, examples: Any
) -> str:
    """Markdown: a short header, then one row per k with each method's figures."""
    columns = ["k (%)"]
    for method in models:
        columns += [
            f"{method} sparsity",
            f"{method} eff. sparsity",
            f"{method} accuracy",
            f"{method} loss",
            f"{method} MAC red.",
        ]
    lines = [
        "# Pruning results",
        "",
        f"Test set: {examples} examples of {dataset}. Dense network: accuracy "
        f"{dense['test_accuracy']:.4f}, loss {dense['test_loss']:.4f}, "
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
            entry = entries[k]
            cells += [
                _percent(entry["sparsity"]),
                _percent(entry["effective_sparsity"]),
                f"{entry['test_accuracy']:.4f}",
                f"{entry['test_loss']:.4f}",
                _times(entry["mac_reduction"]),
            ]
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
    """Speedup vs sparsity, one panel per batch size, one line per (method, route); the dotted
    line of each method is the theoretical MAC reduction of what its best route executes."""
    batches = sorted({row["batch"] for row in rows})
    figure, axes = plt.subplots(1, len(batches), figsize=(6 * len(batches), 5.5), dpi=DPI,
                                squeeze=False)
    lines = sorted({(row["method"], row["route"]) for row in rows})
    routes = sorted({route for _, route in lines})
    palette = plt.get_cmap("tab10" if len(routes) <= 10 else "tab20")
    color_of = {route: palette(index) for index, route in enumerate(routes)}  # same route, same color
    for axis, batch in zip(axes[0], batches):
        cell = [row for row in rows if row["batch"] == batch]
        for method, route in lines:
            points = sorted((row["k"], row["speedup_vs_fastest_dense"]) for row in cell
                            if (row["method"], row["route"]) == (method, route))
            points = [(100 * models[method][k]["sparsity"], y) for k, y in points
                      if k in models.get(method, {})]
            if points:
                xs, ys = zip(*points)
                style = "-" if method == "weight" else "--"
                axis.plot(xs, ys, style, marker="o" if method == "weight" else "s", markersize=4,
                          color=color_of[route], label=f"{method}: {route}")
        for method, style in (("weight", ":"), ("unit", "-.")):
            best = {}
            for row in cell:
                if row["method"] == method and row["k"] in models.get(method, {}):
                    best[row["k"]] = max(best.get(row["k"], 0.0), row["mac_reduction"])
            if best:
                ks = sorted(best)
                axis.plot([100 * models[method][k]["sparsity"] for k in ks],
                          [best[k] for k in ks], style, color="black", linewidth=1.2,
                          label=f"{method}: theoretical MAC reduction")
        axis.axhline(1.0, color="grey", linewidth=1)
        axis.set_yscale("log")
        axis.set_xlim(-3, 102)
        axis.set_title(f"batch {batch}", fontsize=11)
        axis.set_xlabel("sparsity: share of all weights that are zero (%)")
        axis.set_ylabel("speedup vs the fastest dense route (×)")
        axis.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=6, fontsize=8, frameon=False)
    figure.suptitle(title + "\nsolid: weight pruning (sparse routes), dashed: unit pruning "
                    "(compact dense routes)", fontsize=11)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
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


def png_bytes(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" entry, so the bytes depend only on the figure, not the matplotlib version.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def build(args: argparse.Namespace) -> dict[Path, bytes]:
    params = load_params(args.params)
    methods, ks = params["prune"]["methods"], sorted(params["prune"]["ks"])
    pruning = read_json(args.pruning, "evaluate")
    train = read_json(args.train, "train")
    models = select(pruning, methods, ks, args.pruning)
    try:
        dense_kernels = load_kernels(args.dense)
    except WeightsError as error:
        raise PlotError(str(error)) from None

    dense = pruning["dense"]
    keras_accuracy = train.get("test_accuracy")
    numeric = isinstance(keras_accuracy, (int, float))
    if numeric and abs(keras_accuracy - dense["test_accuracy"]) > 2e-3:
        print(
            f"plot: warning: dense test accuracy {dense['test_accuracy']:.4f} (numpy, evaluate) "
            f"differs from {keras_accuracy:.4f} (Keras, train): are the metrics out of date?",
            file=sys.stderr,
        )
    widths = [dense_kernels[0].shape[0]] + [kernel.shape[1] for kernel in dense_kernels]
    sizes = "-".join(str(n) for n in widths)
    dataset = params["data"]["dataset"]
    epochs = ""
    if "best_epoch" in train and "epochs_run" in train:
        epochs = f", dense weights of epoch {train['best_epoch']}/{train['epochs_run']}"
    title = f"{dataset}, MLP {sizes}: test accuracy after magnitude pruning{epochs}"
    chance = 1.0 / dense_kernels[-1].shape[1]
    outputs = {
        args.png: png_bytes(accuracy_figure(models, dense, chance, title)),
        args.magnitudes_png: png_bytes(
            magnitude_figure(
                dense_kernels,
                ks if "weight" in methods else [],
                f"{dataset}, MLP {sizes}: magnitudes of the dense weights",
            )
        ),
        args.table: results_table(
            models, dense, ks, dataset, pruning.get("test_examples", "?")
        ).encode(),
    }
    if args.benchmark:
        rows = read_benchmark(args.benchmark)
        outputs[args.speed_png] = png_bytes(speed_figure(
            rows, models, f"{dataset}, MLP {sizes}: inference speedup of the pruned networks"))
        outputs[args.speed_table] = speed_table(rows, methods, ks).encode()
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--pruning", type=Path, required=True, help="evaluate's metrics JSON")
    parser.add_argument("--train", type=Path, required=True, help="train's metrics JSON")
    parser.add_argument("--dense", type=Path, required=True, help="the dense model's .npz")
    parser.add_argument("--png", type=Path, required=True, help="output accuracy figure")
    parser.add_argument("--magnitudes-png", type=Path, required=True, help="output histograms")
    parser.add_argument("--table", type=Path, required=True, help="output Markdown table")
    parser.add_argument("--benchmark", type=Path, help="the benchmark stage's CSV (optional)")
    parser.add_argument("--speed-png", type=Path, help="output speedup figure (with --benchmark)")
    parser.add_argument("--speed-table", type=Path, help="output speed table (with --benchmark)")
    args = parser.parse_args(argv)
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
