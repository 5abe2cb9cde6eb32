"""The accuracy-latency frontier as a report: Markdown, a figure and the table ``dvc plots``
draws, from the :class:`prunelab.stats.frontier.Point` records of each batch size."""

from __future__ import annotations

import csv
import io
from typing import Any

from prunelab.figures.charts import DPI, MARKERS, plt
from prunelab.figures.tables import latency_text, markdown
from prunelab.stats.frontier import (
    DENSE,
    INPUT,
    TIE_RELATIVE,
    TOLERANCES_PT,
    Answer,
    Point,
    answer_rows,
    pareto_optimal,
)

#: The columns of the frontier CSV, one row per (batch, network).
CSV_COLUMNS = ("batch", "curve", "k", "network", "accuracy", "accuracy_min", "accuracy_max",
               "route", "latency_ms", "speedup", "speedup_p10", "speedup_p90", "nonzero_weights",
               "relative_latency", "pareto")
#: The x axis of the figure and of ``dvc plots``: 1 / speedup, what the frontier ranks by.
RELATIVE_LATENCY_LABEL = ("latency relative to the fastest dense route "
                          "(same inputs and rounds; log scale)")
#: How far below the dense accuracy the figure's axis reaches (points lower are counted).
FIGURE_FLOOR = 0.10


def network_label(point: Point) -> str:
    """``dense`` or ``<curve> <k> %``."""
    return DENSE if point.curve == DENSE else f"{point.curve} {point.k} %"


def speedup_text(point: Point) -> str:
    """``6.6× (6.4–6.9)``: the speedup and its spread."""
    if point.curve == DENSE:
        return "1×"
    return f"{point.speedup:.1f}× ({point.speedup_p10:.1f}–{point.speedup_p90:.1f})"


def answer_label(answer: Answer) -> str:
    """The answer network, and the networks it ties with (smallest first)."""
    label = network_label(answer.point)
    if answer.ties:
        label += " (ties: " + ", ".join(network_label(p) for p in answer.ties) + ")"
    return label


def accuracy_text(point: Point) -> str:
    return f"{point.accuracy:.4f} ({point.accuracy_min:.4f}–{point.accuracy_max:.4f})"


def frontier_table(points: dict[int, list[Point]], cpu: str, seeds: int) -> str:
    """Markdown: the answer table (fastest network within 0.5 / 1 / 2 / 5 points of the dense
    accuracy, per batch size), then each batch size's Pareto front."""
    dense_accuracy = points[min(points)][0].accuracy
    by_batch = {batch: answer_rows(batch_points, dense_accuracy)
                for batch, batch_points in points.items()}
    answers = []
    for drop in TOLERANCES_PT:
        for batch, answer_within in by_batch.items():
            answer = answer_within[drop]
            best = answer.point
            answers.append([f"{drop:g}", str(batch), answer_label(answer), accuracy_text(best),
                            best.route, latency_text(best.latency_ms), speedup_text(best)])
    preamble = [
        "# The accuracy–latency frontier",
        "",
        f"Accuracy: mean test accuracy over {seeds} seeds (min–max). Speed: the first seed's "
        "network on test images, its fastest route's median latency and speedup over the "
        "fastest dense route on the same inputs, timed in the same rounds (the median over "
        "rounds of the two medians' ratio), with the 10th–90th percentile of that median over "
        "resampled rounds (`metrics/benchmark.json`; "
        f"{cpu}).",
        "",
        "Networks whose speedups the benchmark cannot rank tie (spreads overlap, or within "
        f"{100 * TIE_RELATIVE:g} %): the answer is the smallest of the fastest network's ties "
        "(fewest non-zero weights), the others follow it in brackets.",
        "",
        "## Fastest network within d points of the dense accuracy "
        f"({dense_accuracy:.4f})",
        "",
    ]
    text = markdown(preamble, ["within (points)", "batch", "network", "test accuracy",
                               "route", "latency", "speedup"],
                    ["---:", "---:", "---", "---:", "---", "---:", "---:"], answers)
    for batch, batch_points in points.items():
        # The fastest networks of all are often near chance: past FIGURE_FLOOR they are left
        # out of the table as of the figure (the CSV keeps them).
        floor = dense_accuracy - FIGURE_FLOOR
        front = [p for p, keep in zip(batch_points, pareto_optimal(batch_points), strict=True)
                 if keep and p.accuracy >= floor]
        rows = [[network_label(p), accuracy_text(p), p.route, latency_text(p.latency_ms),
                 speedup_text(p)] for p in sorted(front, key=lambda p: -p.speedup)]
        text += "\n" + markdown(
            [f"## Pareto front at batch {batch} (no network both faster and more accurate)", "",
             f"Networks within {100 * FIGURE_FLOOR:g} points of the dense accuracy, fastest "
             "first.", ""],
            ["network", "test accuracy", "route", "latency", f"speedup (batch {batch})"],
            ["---", "---:", "---", "---:", "---:"], rows)
    return text


def shares_text(shares: list[float]) -> str:
    """Zero shares per layer, pixels first: ``0.49 · 0.91 · 0.77``."""
    return " · ".join(f"{share:.2f}" for share in shares)


def bytes_text(nbytes: float) -> str:
    """Bytes in kB below 1 MB, else in MB (decimal)."""
    return f"{nbytes / 1e3:.0f} kB" if nbytes < 1e6 else f"{nbytes / 1e6:.2f} MB"


def limits_table(points: list[Point], dense_accuracy: float, benchmark: dict[str, Any]) -> str:
    """Markdown: for the dense network and each batch-1 answer, what its weights allow
    (:mod:`prunelab.speed.limits`) against the latency measured."""
    shown = [points[0]]
    for answer in answer_rows(points, dense_accuracy).values():
        if answer.point not in shown:
            shown.append(answer.point)
    rows = []
    dense_limit = benchmark["dense"]["limit_batch1"]["compact"]
    for point in shown:
        if point.curve == DENSE:
            limit = dense_limit
        else:
            entry = benchmark[point.curve][str(point.k)]
            stored_as = entry[INPUT]["1"][point.route]["stored_as"]
            limit = entry["model"]["limit_batch1"][stored_as]
        measured_us = point.latency_ms * 1e3
        rows.append([network_label(point), point.route,
                     f"{bytes_text(limit['stored_bytes'])} ({limit['level']})",
                     bytes_text(limit["bytes_read_per_image"]),
                     f"{limit['bandwidth_gb_s']:.0f} GB/s", f"{limit['limit_us']:.1f} µs",
                     f"{measured_us:.1f} µs", f"{measured_us / limit['limit_us']:.1f}×",
                     f"{dense_limit['limit_us'] / limit['limit_us']:.1f}×",
                     f"{point.speedup:.1f}×"])
    preamble = [
        "## What the weights allow at batch 1",
        "",
        "The dense network and each batch-1 answer: its weights as its route stores them and "
        "the smallest cache level that holds them, the bytes one image reads after "
        "zero-skipping (rows of exactly zero inputs skipped), one core's read bandwidth of a "
        "buffer of that size on this CPU, the latency those bytes imply at that bandwidth, and "
        "the median measured (`prunelab.speed.limits`). The speedup at the limits is the dense "
        "network's limit over this network's: what the bytes allow if both ran at their "
        "bandwidth; a measured speedup above it means the dense network runs further from its "
        "limit than this one.",
        "",
    ]
    return markdown(preamble, ["network", "route", "weights stored (cache)", "read per image",
                               "bandwidth", "limit", "measured", "measured / limit",
                               "speedup at the limits", "speedup measured"],
                    ["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"],
                    rows)


def inputs_table(benchmark: dict[str, Any], timed: dict[str, list[int]],
                 curves: tuple[str, ...], batch_sizes: tuple[int, ...]) -> str:
    """Markdown: the networks timed on both input kinds, test images beside uniform random
    pixels: each batch size's fastest route and speedup, and the share of zero inputs of each
    layer (what the zero-skipping numba kernels skip)."""
    columns = ["network"]
    for batch in batch_sizes:
        columns += [f"batch {batch}: images", "random"]
    columns += ["zero inputs per layer: images", "random"]
    rows = []
    dense = benchmark["dense"]
    line = ["dense"]
    for batch in batch_sizes:
        for kind in ("images", "random"):
            fastest = dense[kind][str(batch)]["fastest"]
            line.append(f"{fastest['route']} {latency_text(fastest['latency_ms'])}")
    rows.append(line + [shares_text(dense["zero_input_share"][kind])
                        for kind in ("images", "random")])
    for curve in curves:
        for k in timed[curve]:
            entry = benchmark[curve][str(k)]
            line = [f"{curve} {k} %"]
            for batch in batch_sizes:
                for kind in ("images", "random"):
                    best = entry[kind][str(batch)]["best"]
                    line.append("—" if best["route"] is None else
                                f"{best['route']} {best['speedup_vs_fastest_dense']:.1f}×")
            rows.append(line + [shares_text(entry["model"]["zero_input_share"][kind])
                                for kind in ("images", "random")])
    preamble = [
        "## Test images against uniform random pixels",
        "",
        "The fastest route and its speedup over the fastest dense route on the same inputs (the "
        "dense row: that route and its latency), and the share of exactly zero inputs of each "
        "layer of the network the routes run (compact: dead units removed), pixels first.",
        "",
    ]
    align = ["---"] + ["---:"] * (2 * len(batch_sizes)) + ["---:", "---:"]
    return markdown(preamble, columns, align, rows)


def same_shape_table(benchmark: dict[str, Any], timed: dict[str, list[int]],
                     batch_sizes: tuple[int, ...]) -> str:
    """Markdown: networks that run as the same compact network on a dense route (unit
    structure at one k: pruned, refit, fine-tuned, scratch): per shape, batch size and dense
    route that is the fastest for one of them, their speedups on test images, the spread
    (largest over smallest, minus one) and each one's mean share of zero hidden activations
    (the zero-skipping numba pass does less work where it is higher; BLAS does the same
    arithmetic for all)."""
    groups: dict[tuple[tuple[int, ...], int], list[tuple[str, dict, float]]] = {}
    for curve, ks in timed.items():
        for k in ks:
            entry = benchmark[curve][str(k)]
            shape = tuple(entry["model"]["compact_layer_sizes"])
            for batch in batch_sizes:
                cell = entry[INPUT][str(batch)]
                route = cell["best"]["route"]
                if route is not None and cell[route]["stored_as"] == "compact":
                    hidden = entry["model"]["zero_input_share"][INPUT][1:]
                    zeros = sum(hidden) / len(hidden) if hidden else 0.0
                    groups.setdefault((shape, batch), []).append((f"{curve} {k} %", cell, zeros))
    rows = []
    for (shape, batch), members in groups.items():
        if len(members) < 2:
            continue
        for route in dict.fromkeys(cell["best"]["route"] for _, cell, _ in members):
            speedups = [(name, cell[route]["speedup_vs_fastest_dense"], zeros)
                        for name, cell, zeros in members if route in cell]
            values = [speedup for _, speedup, _ in speedups]
            rows.append(["-".join(map(str, shape)), route, str(batch),
                         ", ".join(f"{name} {speedup:.2f}× ({zeros:.2f})"
                                   for name, speedup, zeros in speedups),
                         f"{100 * (max(values) / min(values) - 1):.1f} %"])
    preamble = [
        "## The same compact shape on the same route",
        "",
        "Networks that run as the same compact network on a dense route: their speedups on "
        "test images and, in brackets, their mean share of zero hidden activations. On a BLAS "
        "route (numpy, TensorFlow, LiteRT) they do the same arithmetic and should differ by "
        "noise only; the numba pass skips zero activations, so there the network with more "
        "zeros does less work.",
        "",
    ]
    return markdown(preamble, ["compact shape", "route", "batch", "speedups (zero share)",
                               "spread"],
                    ["---", "---", "---:", "---", "---:"], rows)


def frontier_csv(points: dict[int, list[Point]]) -> str:
    """Long-format CSV for ``dvc plots``: one row per (batch, network); ``pareto`` 1 or 0."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for batch, batch_points in points.items():
        for point, keep in zip(batch_points, pareto_optimal(batch_points), strict=True):
            writer.writerow([batch, point.curve, point.k, network_label(point),
                             f"{point.accuracy:.6g}", f"{point.accuracy_min:.6g}",
                             f"{point.accuracy_max:.6g}", point.route,
                             f"{point.latency_ms:.6g}", f"{point.speedup:.6g}",
                             f"{point.speedup_p10:.6g}", f"{point.speedup_p90:.6g}",
                             point.nonzero_weights,
                             f"{1 / point.speedup:.6g}", int(keep)])
    return buffer.getvalue()


def frontier_figure(points: dict[int, list[Point]], title: str) -> plt.Figure:
    """A panel per batch size: accuracy (mean, min-max bar) against latency relative to the
    fastest dense route (1 / speedup, log), a colour and marker per curve, the Pareto front as a
    black step line with its networks labelled."""
    curves = list(dict.fromkeys(p.curve for batch in points.values() for p in batch))
    palette = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20")
    style = {curve: (palette(i), MARKERS[i % len(MARKERS)]) for i, curve in enumerate(curves)}
    figure, axes = plt.subplots(1, len(points), dpi=DPI, squeeze=False,
                                figsize=(6.4 * len(points), 5.4))
    for axis, (batch, batch_points) in zip(axes[0], points.items(), strict=True):
        dense_accuracy = batch_points[0].accuracy
        floor = dense_accuracy - FIGURE_FLOOR
        for curve in curves:
            shown = [p for p in batch_points if p.curve == curve and p.accuracy >= floor]
            if not shown:
                continue
            color, marker = style[curve]
            axis.errorbar([1 / p.speedup for p in shown], [p.accuracy for p in shown],
                          yerr=[[p.accuracy - p.accuracy_min for p in shown],
                                [p.accuracy_max - p.accuracy for p in shown]],
                          fmt=marker, color=color, markersize=5, capsize=2, linewidth=0.8,
                          label=curve)
        front = sorted((p for p, keep in zip(batch_points, pareto_optimal(batch_points),
                                               strict=True) if keep),
                       key=lambda p: -p.speedup)
        front = [p for p in front if p.accuracy >= floor]
        axis.step([1 / p.speedup for p in front], [p.accuracy for p in front], where="post",
                  color="black", linewidth=1, label="Pareto front")
        for point in front:
            axis.annotate(network_label(point), (1 / point.speedup, point.accuracy),
                          textcoords="offset points", xytext=(4, 4), fontsize=7)
        for drop, dash in ((1, "--"), (2, ":")):
            axis.axhline(dense_accuracy - drop / 100, color="grey", linestyle=dash,
                         linewidth=0.8, label=f"dense − {drop} point{'s' if drop > 1 else ''}")
        below = sum(p.accuracy < floor for p in batch_points)
        axis.set_xscale("log")
        axis.set_ylim(floor, dense_accuracy + 0.01)
        axis.set_xlabel(RELATIVE_LATENCY_LABEL)
        axis.set_ylabel("test accuracy (mean, bar: min-max over seeds)")
        axis.set_title(f"batch {batch}" + (f" ({below} networks below the axis)" if below else ""),
                       fontsize=11)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(loc="lower right", fontsize=7)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure
