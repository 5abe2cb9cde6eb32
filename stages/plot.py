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
* ``--recovery-png`` / ``--finetune-table``: per method one-shot vs fine-tuned (and gradual, and
  the controls in the figure).
* ``--controls-table``: per pruning family and k, every way to a network of that sparsity
  (one-shot, refit, fine-tuned, refit + fine-tuned, gradual, lottery ticket, re-init, scratch).
* ``--sensitivity-png`` / ``--sensitivity-table``: hidden matrix x k -> accuracy heat maps.
* with ``--benchmark``: ``--speed-png`` (a panel per one-shot curve and batch size, a colour
  per route) and ``--speed-table`` (every timed curve), both on test images.
* with ``--train-logs``: ``--training-csv``, every seed's per-epoch loss and accuracy (train and
  validation) in one long table, for ``dvc plots``.

The figures are drawn by ``prunelab.figures.charts`` and ``prunelab.figures.magnitudes``, the tables
written by ``prunelab.figures.tables``, from the reports ``prunelab.figures.results`` reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prunelab.figures import results, tables
from prunelab.figures.charts import (
    accuracy_figure,
    png_bytes,
    recovery_figure,
    sensitivity_figure,
    speed_figure,
)
from prunelab.figures.magnitudes import magnitude_figure
from prunelab.model.weights import load_kernels
from prunelab.schema.benchmark import BENCHMARK
from prunelab.schema.data import DATA
from prunelab.schema.finetune import FINETUNE
from prunelab.schema.gradual import GRADUAL
from prunelab.schema.lottery import LOTTERY
from prunelab.schema.prune import PRUNE
from prunelab.schema.reconstruct import RECONSTRUCT
from prunelab.schema.scratch import SCRATCH
from prunelab.schema.sensitivity import SENSITIVITY
from prunelab.schema.train import TRAIN
from prunelab.stats.curves import oneshot_curves
from prunelab.wiring import entry
from prunelab.wiring.atomic import write_files
from prunelab.wiring.entry import run_stage
from prunelab.wiring.layout import dense_path
from prunelab.wiring.params import load_params

# Flag -> help of the inputs and outputs every run needs, then of the optional ones.
REQUIRED = {
    "--pruning": "evaluate's pruning JSON",
    "--finetune": "evaluate's fine-tuning JSON",
    "--sensitivity": "sensitivity's JSON",
    "--models": "folder of seed-<s>/dense.npz",
    "--png": "output accuracy figure",
    "--magnitudes-png": "output histograms",
    "--table": "output Markdown table",
    "--recovery-png": "output fine-tuning figure",
    "--finetune-table": "output Markdown table",
    "--controls-table": "output Markdown table of the controls",
    "--sensitivity-png": "output heat maps",
    "--sensitivity-table": "output Markdown table",
}
OPTIONAL = {
    "--benchmark": "the benchmark stage's CSV (optional)",
    "--speed-png": "output speedup figure (with --benchmark)",
    "--speed-table": "output speed table (with --benchmark)",
    "--train-logs": "the train stage's metrics folder (seed-<s>/plots/metrics, dvclive)",
    "--training-csv": "output long-format CSV of every seed's training curves",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = entry.paths_parser(__doc__, REQUIRED, OPTIONAL)
    args = parser.parse_args(argv)
    if args.train_logs and not args.training_csv:
        parser.error("--train-logs needs --training-csv")
    if args.benchmark and not (args.speed_png and args.speed_table):
        parser.error("--benchmark needs --speed-png and --speed-table")
    return args


def build(args: argparse.Namespace) -> dict[Path, bytes]:
    """Every output file's bytes, from the inputs the arguments name."""
    params = load_params(
        args.params, DATA, TRAIN, PRUNE, RECONSTRUCT, FINETUNE, GRADUAL, SCRATCH, LOTTERY,
        SENSITIVITY, BENCHMARK,
    )
    oneshot = oneshot_curves(params)
    methods, ks = list(oneshot), sorted({k for ks in oneshot.values() for k in ks})
    seeds = params.train.seeds
    pruning = results.read_json(args.pruning, "evaluate")
    models = results.select_oneshot(pruning, oneshot, args.pruning)
    tuned = results.select_tuned(results.read_json(args.finetune, "evaluate"), params,
                                 args.finetune)
    sensitivity = results.read_json(args.sensitivity, "sensitivity")
    sensitivity_methods = params.sensitivity.methods
    sensitivity_ks = sorted(params.sensitivity.ks)
    results.check_sensitivity(sensitivity, sensitivity_methods, sensitivity_ks, args.sensitivity)
    dense_kernels = load_kernels(dense_path(args.models, seeds[0]))

    dense = pruning["dense"]
    widths = [dense_kernels[0].shape[0]] + [kernel.shape[1] for kernel in dense_kernels]
    dataset = params.data.dataset
    network = f"{dataset}, MLP {'-'.join(str(n) for n in widths)}"
    chance = 1.0 / dense_kernels[-1].shape[1]
    outputs = {
        args.png: png_bytes(accuracy_figure(
            models, dense, chance,
            f"{network}: test accuracy after one-shot pruning, {len(seeds)} seeds")),
        args.magnitudes_png: png_bytes(magnitude_figure(
            dense_kernels, dense["magnitudes"], ks if "weight" in methods else [],
            f"{network}: magnitudes of the dense weights (seed {seeds[0]})")),
        args.table: (
            tables.results_table(
                {m: models[m] for m in params.prune.methods}, dense, ks, dataset,
                pruning.get("test_examples", "?"), seeds,
            )
            + "\n"
            + tables.reconstruction_table(models, params.reconstruct.methods)
        ).encode(),
        args.recovery_png: png_bytes(recovery_figure(
            models, tuned, dense, chance, f"{network}: what retraining recovers")),
        args.finetune_table: tables.finetune_table(models, tuned, dense, seeds).encode(),
        args.controls_table: tables.controls_table(models, tuned, dense, seeds).encode(),
        args.sensitivity_png: png_bytes(sensitivity_figure(
            sensitivity, sensitivity_methods, sensitivity_ks,
            f"{network}: one hidden matrix pruned at a time, the others dense")),
        args.sensitivity_table: tables.sensitivity_table(
            sensitivity, sensitivity_methods, sensitivity_ks,
            [kernel.shape for kernel in dense_kernels[:-1]]).encode(),
    }
    if args.train_logs:
        logs = results.read_training_logs(args.train_logs, seeds)
        outputs[args.training_csv] = tables.training_table(logs).encode()
    if args.benchmark:
        # Test images, as a deployed network meets them; the random-pixel stress case is in
        # the frontier stage's report.
        rows = [row for row in results.read_benchmark(args.benchmark) if row["input"] == "images"]
        outputs[args.speed_png] = png_bytes(speed_figure(
            rows, models, f"{network}: inference speedup of the pruned networks, test images"))
        outputs[args.speed_table] = tables.speed_table(
            rows, list(params.benchmark.curves), ks).encode()
    return outputs


def run(args: argparse.Namespace) -> None:
    files = build(args)
    write_files(files)
    print(f"plot: wrote {', '.join(str(path) for path in files)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_stage("plot", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
