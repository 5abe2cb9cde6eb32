"""Stage frontier: which network is fastest at the accuracy a user can accept.

Joins the evaluate stage's accuracies (``--pruning``, ``--finetune``: each curve's mean test
accuracy over ``train.seeds`` and its min-max band) with the benchmark stage's timings
(``--benchmark``: the first seed's networks on test images) for every curve of
``benchmark.curves`` at every batch size of ``benchmark.batch_sizes``
(:mod:`prunelab.stats.frontier`). Writes, all or nothing:

* ``--table``: Markdown, the fastest network within 0.5 / 1 / 2 / 5 points of the dense accuracy
  per batch size (ties named), then each batch size's Pareto front, then at batch 1 what the
  answers' weights allow against what they measured (:mod:`prunelab.speed.limits`), the
  networks of one compact shape on one route side by side (their speedups should agree), then (for
  ``benchmark.random_input_curves``) test images against random pixels: speedups and the share
  of zero inputs per layer;
* ``--png``: accuracy against latency (log), a panel per batch size, the Pareto front drawn;
* ``--csv``: one row per (batch, network), what ``dvc plots`` draws;
* ``--headlines-dir``: ``b<batch>.json``, ``{"<d>pt": speedup of the answer within d points}``,
  the rows ``dvc metrics show`` prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prunelab.figures.charts import png_bytes
from prunelab.figures.frontier import (
    frontier_csv,
    frontier_figure,
    frontier_table,
    inputs_table,
    limits_table,
    same_shape_table,
)
from prunelab.figures.results import read_json
from prunelab.schema.benchmark import BENCHMARK
from prunelab.schema.data import DATA
from prunelab.schema.finetune import FINETUNE
from prunelab.schema.gradual import GRADUAL
from prunelab.schema.lottery import LOTTERY
from prunelab.schema.prune import PRUNE
from prunelab.schema.reconstruct import RECONSTRUCT
from prunelab.schema.scratch import SCRATCH
from prunelab.schema.train import TRAIN
from prunelab.stats.curves import SPEEDUP_DIGITS, timed_networks
from prunelab.stats.frontier import answer_rows, frontier_points, headline_key
from prunelab.wiring import entry
from prunelab.wiring.atomic import json_bytes, write_files
from prunelab.wiring.errors import StageError
from prunelab.wiring.layout import headline_path
from prunelab.wiring.names import parse_curve_name
from prunelab.wiring.params import Params, load_params

PATHS = {
    "--pruning": "evaluate's pruning JSON (one-shot accuracies)",
    "--finetune": "evaluate's fine-tuning JSON (fine-tuned accuracies)",
    "--benchmark": "the benchmark stage's JSON",
    "--table": "output Markdown",
    "--png": "output figure",
    "--csv": "output CSV for dvc plots",
    "--headlines-dir": "output folder of b<batch>.json headlines",
}


def main(argv: list[str] | None = None) -> int:
    args = entry.paths_parser(__doc__, PATHS, {}).parse_args(argv)
    return entry.run_stage("frontier", lambda: write_files(build(args)))


def accuracies(pruning: dict, finetune: dict, params: Params) -> dict[str, dict[int, dict]]:
    """``{curve: {k: entry}}`` of every timed curve, from the evaluate stage's two reports."""
    found: dict[str, dict[int, dict]] = {}
    for curve, ks in timed_networks(params).items():
        schedule, method = parse_curve_name(curve)
        source = pruning.get(method, {}) if schedule is None else (
            finetune.get(schedule, {}).get(method, {}))
        missing = [k for k in ks if str(k) not in source]
        if missing:
            raise StageError(f"the evaluate stage's reports lack {curve} at k = {missing}: "
                             "run `dvc repro` (evaluate)")
        found[curve] = {k: source[str(k)] for k in ks}
    return found


def build(args: argparse.Namespace) -> dict[Path, bytes]:
    """Every output file's bytes."""
    params = load_params(
        args.params, DATA, TRAIN, PRUNE, RECONSTRUCT, FINETUNE, GRADUAL, SCRATCH, LOTTERY,
        BENCHMARK,
    )
    pruning = read_json(args.pruning, "evaluate")
    finetune = read_json(args.finetune, "evaluate")
    benchmark = read_json(args.benchmark, "benchmark")
    found = accuracies(pruning, finetune, params)
    timed = timed_networks(params)
    dense_accuracy = pruning["dense"]["test_accuracy"]
    cpu = benchmark.get("meta", {}).get("cpu", "CPU not recorded")
    batch_sizes = params.benchmark.batch_sizes
    try:
        points = {batch: frontier_points(found, pruning["dense"], benchmark, timed, batch)
                  for batch in batch_sizes}
        table = frontier_table(points, cpu, len(params.train.seeds))
        if 1 in points:
            table += "\n" + limits_table(points[1], dense_accuracy, benchmark)
        table += "\n" + same_shape_table(benchmark, timed, batch_sizes)
        if params.benchmark.random_input_curves:
            table += "\n" + inputs_table(benchmark, timed, params.benchmark.random_input_curves,
                                         batch_sizes)
    except KeyError as error:
        raise StageError(f"{args.benchmark} lacks {error}: it is older than params.yaml or the "
                         "code, run `dvc repro` (benchmark)") from None
    outputs = {
        args.table: table.encode(),
        args.csv: frontier_csv(points).encode(),
        args.png: png_bytes(frontier_figure(
            points, f"{params.data.dataset}: accuracy against latency, test images ({cpu})")),
    }
    for batch, batch_points in points.items():
        row = {headline_key(drop): round(answer.point.speedup, SPEEDUP_DIGITS)
               for drop, answer in answer_rows(batch_points, dense_accuracy).items()}
        outputs[headline_path(args.headlines_dir, f"b{batch}")] = json_bytes(row)
    return outputs


if __name__ == "__main__":
    sys.exit(main())
