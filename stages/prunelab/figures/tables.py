"""The study's Markdown tables and the training CSV, as text, from already-read results.

Pure formatting (no files, no matplotlib): the entries are those of the evaluate stage's
reports (``{method: {k: entry}}``, see :mod:`prunelab.stats.evaluation`), the sensitivity stage's
document and the benchmark stage's rows (:mod:`prunelab.figures.results` reads and checks them).
Accuracies are printed as ``mean (min–max)`` over seeds.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from prunelab.stats.curves import COUNTERPART

# How the tables and figures call the spread over seeds of a figure.
SPREAD = "min-max"
# dvclive's folder of each split of the training log -> its name in the training CSV.
TRAINING_SPLITS = {"train": "train", "eval": "validation"}
TRAINING_QUANTITIES = ("loss", "accuracy")


def spread(entry: dict) -> str:
    """An entry's test accuracy as ``mean (min–max)``."""
    return (f"{entry['test_accuracy']:.4f} ({entry['test_accuracy_min']:.4f}–"
            f"{entry['test_accuracy_max']:.4f})")


def percent(value: float) -> str:
    return f"{100 * value:.2f} %"


def times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def markdown(preamble: list[str], columns: list[str], align: list[str], rows: list[list[str]]
             ) -> str:
    """The lines of ``preamble``, then a Markdown table with the given column alignments."""
    lines = [
        *preamble,
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(align) + "|",
        *["| " + " | ".join(row) + " |" for row in rows],
    ]
    return "\n".join(lines) + "\n"


def results_table(
    models: dict[str, dict[int, dict]], dense: dict, ks: list[int], dataset: str, examples: Any,
    seeds: tuple[int, ...],
) -> str:
    """Markdown: a short header, then one row per k with each method's figures."""
    columns = ["k (%)"]
    for method in models:
        columns += [f"{method} sparsity", f"{method} accuracy"]
    if "unit" in models:
        columns += ["unit eff. sparsity", "unit MAC red."]
    rows = []
    for k in ks:
        cells = [str(k)]
        for entries in models.values():
            entry = entries.get(k)
            cells += ["—", "—"] if entry is None else [percent(entry["sparsity"]), spread(entry)]
        if "unit" in models and k in models["unit"]:
            unit = models["unit"][k]
            cells += [percent(unit["effective_sparsity"]), times(unit["mac_reduction"])]
        rows.append(cells)
    preamble = [
        "# Pruning results",
        "",
        f"Test set: {examples} examples of {dataset}. Accuracy: mean over seeds {list(seeds)} "
        f"({SPREAD} in brackets). Dense network: accuracy {spread(dense)}, "
        f"{dense['params']:,} weights.",
        "",
        "k = percentage removed from each hidden matrix (the logits matrix is never pruned). "
        "Sparsity = share of all weights that are zero; eff. sparsity also counts the weights "
        "of dead units (no input or no reader). MAC red. = dense MACs / MACs of the network "
        "with dead units removed, run as dense matrix products.",
        "",
    ]
    return markdown(preamble, columns, ["---:"] * len(columns), rows)


def reconstruction_table(models: dict[str, dict[int, dict]], methods: tuple[str, ...]) -> str:
    """Markdown: each data-aware method beside the magnitude method whose counts it shares."""
    pairs = [(COUNTERPART[m], m) for m in methods if COUNTERPART.get(m) in models]
    ks = sorted({k for _, method in pairs for k in models[method]})
    columns = ["k (%)"] + [name for pair in pairs for name in pair]
    rows = []
    for k in ks:
        cells = [str(k)]
        for pair in pairs:
            cells += [spread(models[m][k]) if k in models[m] else "—" for m in pair]
        rows.append(cells)
    preamble = [
        "## One-shot pruning with calibration data (no gradient step)",
        "",
        "Each data-aware method beside the magnitude method it shares its counts with. "
        "Accuracy: mean over seeds (min–max).",
        "",
    ]
    return markdown(preamble, columns, ["---:"] * len(columns), rows)


def finetune_table(
    oneshot: dict[str, dict[int, dict]], tuned: dict[str, dict[str, dict[int, dict]]],
    dense: dict, seeds: tuple[int, ...],
) -> str:
    """Markdown: per method and k, accuracy one-shot vs fine-tuned (and gradual), time spent."""
    fine, gradual = tuned.get("oneshot", {}), tuned.get("gradual", {})
    rows = []
    for method in dict.fromkeys([*fine, *gradual]):
        for k in sorted(set(fine.get(method, {})) | set(gradual.get(method, {}))):
            tuned_entry = fine.get(method, {}).get(k)
            gradual_entry = gradual.get(method, {}).get(k)
            base = oneshot.get(method, {}).get(k)
            cells = [method, str(k), percent((tuned_entry or gradual_entry)["sparsity"]),
                     spread(base) if base else "—"]
            for entry, with_gain in ((tuned_entry, True), (gradual_entry, False)):
                if entry is None:
                    cells += ["—"] * (3 if with_gain else 2)
                    continue
                cells.append(spread(entry))
                if with_gain:
                    gain = entry.get("gain_over_oneshot")
                    cells.append("—" if gain is None else f"{100 * gain:+.2f} pt")
                cells.append(f"{entry['finetune_seconds']:.0f} s")
            rows.append(cells)
    preamble = [
        "# Fine-tuning after pruning",
        "",
        f"Test accuracy, mean over seeds {list(seeds)} ({SPREAD} in brackets). Dense network: "
        f"{spread(dense)}. Fine-tuned: the pruned network retrained with its mask fixed; "
        "gradual: sparsity raised from 0 to k along the cubic schedule while retraining. "
        "Time: seconds of retraining per seed.",
        "",
    ]
    columns = ["method", "k (%)", "sparsity", "one-shot", "fine-tuned", "gain", "time",
               "gradual", "time"]
    return markdown(preamble, columns, ["---"] + ["---:"] * 8, rows)


#: The columns of the controls table: (title, schedule or None for one-shot, method suffix).
#: Per family ``weight`` / ``unit`` a row, the method of a column being the family's name plus
#: the suffix (``weight`` + ``_refit``); a column that a family lacks shows a dash.
CONTROL_COLUMNS = (
    ("one-shot", None, ""),
    ("refit", None, "_refit"),
    ("fine-tuned", "oneshot", ""),
    ("refit + fine-tuned", "oneshot", "_refit"),
    ("gradual", "gradual", ""),
    ("lottery ticket", "lottery", ""),
    ("random re-init", "reinit", ""),
    ("scratch", "scratch", ""),
)


def controls_table(
    oneshot: dict[str, dict[int, dict]], tuned: dict[str, dict[str, dict[int, dict]]],
    dense: dict, seeds: tuple[int, ...],
) -> str:
    """Markdown: per pruning family (weight, unit) and k that anything was retrained at, every
    way to get a network of that sparsity -- one-shot, refit, fine-tuned, refit + fine-tuned,
    gradual, and the controls trained with the dense recipe (lottery ticket, random re-init,
    scratch) -- each as mean (min–max) over seeds, and the seconds of training it took."""
    rows = []
    for family in ("weight", "unit"):
        retrained = {k for (_, schedule, suffix) in CONTROL_COLUMNS if schedule
                     for k in tuned.get(schedule, {}).get(family + suffix, {})}
        for k in sorted(retrained):
            cells = [family, str(k)]
            for _, schedule, suffix in CONTROL_COLUMNS:
                method = family + suffix
                entry = (oneshot if schedule is None else tuned.get(schedule, {})).get(
                    method, {}).get(k)
                if entry is None:
                    cells.append("—")
                elif schedule is None:
                    cells.append(spread(entry))
                else:
                    cells.append(f"{spread(entry)}, {entry['finetune_seconds']:.0f} s")
            rows.append(cells)
    preamble = [
        "# Pruned, or trained small? The controls",
        "",
        f"Test accuracy, mean over seeds {list(seeds)} ({SPREAD} in brackets), and seconds of "
        f"training per seed. Dense network: {spread(dense)}. One-shot and refit: no gradient "
        "step. Fine-tuned: the pruned network retrained with its mask fixed (the fine-tuning "
        "recipe); gradual: sparsity raised while retraining. Lottery ticket: weight pruning's "
        "mask on the seed's initial weights, random re-init: the same mask on another "
        "initialisation, scratch: unit pruning's compact widths from a fresh initialisation -- "
        "these three trained with the dense network's whole recipe.",
        "",
    ]
    columns = ["family", "k (%)", *[title for title, _, _ in CONTROL_COLUMNS]]
    return markdown(preamble, columns, ["---", "---:"] + ["---:"] * len(CONTROL_COLUMNS), rows)


def sensitivity_table(sensitivity: dict, methods: tuple[str, ...], ks: list[int],
                      shapes: list[tuple[int, int]]) -> str:
    """Markdown: per method and hidden matrix a row, the accuracy at each k; ``shapes`` are the
    hidden matrices' (inputs, outputs), in network order."""
    rows = [
        [method, f"kernel_{layer}", *[spread(sensitivity[method][f"kernel_{layer}"][str(k)])
                                      for k in ks]]
        for method in methods
        for layer in range(len(shapes))
    ]
    # "kernel_0 is 784×1000, kernel_1 1000×1000, ...": the verb once, as a sentence reads.
    described = ", ".join(f"kernel_{layer} {'is ' * (layer == 0)}{inputs}×{outputs}"
                          for layer, (inputs, outputs) in enumerate(shapes))
    preamble = [
        "# Layer sensitivity",
        "",
        "Test accuracy with one hidden matrix pruned and the others dense: mean over seeds "
        f"{sensitivity['seeds']} ({SPREAD} in brackets). {described}.",
        "",
    ]
    columns = ["method", "matrix", *[f"k={k}" for k in ks]]
    return markdown(preamble, columns, ["---", "---"] + ["---:"] * len(ks), rows)


def latency_text(latency_ms: float) -> str:
    """A latency in µs below a millisecond, else in ms."""
    return f"{latency_ms * 1000:.1f} µs" if latency_ms < 1 else f"{latency_ms:.2f} ms"


def speed_table(rows: list[dict], methods: list[str], ks: list[int]) -> str:
    """Markdown: per (curve, k) and batch, the fastest route, its latency and speedups;
    ``methods`` are the curves' names (the rows' ``method``), in the order shown."""
    batches = sorted({row["batch"] for row in rows})
    columns = ["curve", "k (%)", "MAC red. (limit)"]
    for batch in batches:
        columns += [f"batch {batch}: fastest route", "latency", "vs fastest dense",
                    "vs numpy/TF/LiteRT dense"]
    lines = []
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
                line += [best["route"], latency_text(best["latency_ms"]),
                         f"{best['speedup_vs_fastest_dense']:.1f}×",
                         f"{best['speedup_vs_library_dense']:.1f}×"]
            lines.append(line)
    preamble = [
        "# Speed of the pruned networks",
        "",
        "Median latency of the fastest route for each network of the first seed on test images, "
        "and its speedup against the fastest dense route timed in the same rounds (and "
        "against the fastest off-the-shelf dense runtime: numpy, TensorFlow, LiteRT). MAC red. = "
        "theoretical reduction of what the route executes (the best over routes). All routes, "
        "and the random-pixel stress case, in `metrics/benchmark.csv`.",
        "",
    ]
    align = ["---", "---:", "---:"] + ["---", "---:", "---:", "---:"] * len(batches)
    return markdown(preamble, columns, align, lines)


def training_table(logs: dict[int, dict[str, dict[str, dict[int, str]]]]) -> str:
    """Long-format CSV of every seed's per-epoch curves, from ``{seed: {split folder:
    {quantity: {step: value}}}}`` (:func:`prunelab.figures.results.read_training_logs`): one row per
    seed, split and epoch (step + 1), for one overlaid plot per quantity in ``dvc plots show``.
    A step that lacks a quantity gets an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["seed", "split", "epoch", *TRAINING_QUANTITIES])
    for seed, by_folder in logs.items():
        for folder, split in TRAINING_SPLITS.items():
            columns = by_folder[folder]
            for step in sorted(columns[TRAINING_QUANTITIES[0]]):
                writer.writerow([f"seed {seed}", split, step + 1,
                                 *[columns[q].get(step, "") for q in TRAINING_QUANTITIES]])
    return buffer.getvalue()
