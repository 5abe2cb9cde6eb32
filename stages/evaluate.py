"""Stage evaluate: test accuracy, loss and size figures of every dense, pruned and fine-tuned net.

Every model the params file lists, for every seed of ``train.seeds``
(:mod:`prunelab.stats.evaluation` says which files), on the test split (the first
``data.test_images`` examples, 0 = all), with the TensorFlow-free forward pass; see
``prunelab.stats.sparsity`` for the figures. Every figure is the mean over seeds; ``test_accuracy``
and ``test_loss`` also come with their ``_min``, ``_max`` and per-seed values (``_seeds``).
Writes, all or nothing:

* ``--metrics`` JSON: ``{"test_examples", "seeds", "dense": {...}, "<method>": {"<k>": {...}}}``
  (per-layer lists become objects keyed ``kernel_<i>`` / ``hidden_<i>`` so ``dvc metrics``
  shows them); pruned models also have ``accuracy_drop`` (dense minus pruned, mean over
  seeds), and ``dense`` has ``magnitudes`` of the first seed's kernels.
* ``--finetune-metrics`` JSON: ``{"<schedule>": {"<method>": {"<k>": {...}}}}``, each entry
  also with ``gain_over_oneshot`` (fine-tuned minus one-shot accuracy, mean over seeds),
  ``finetune_seconds`` (per seed, mean) and ``val_accuracy``.
* ``--curves-dir``: ``<method>.csv`` (one-shot) and ``<schedule>-<method>.csv`` (fine-tuned),
  one row per k, ascending.
* ``--headlines-dir``: the figures ``dvc metrics show`` prints, one JSON per curve keyed
  ``k<k>`` (``prunelab.stats.curves.accuracy_headlines``); everything above is a report, not a
  metric.
* ``--plots-dir``: ``oneshot.csv`` and ``finetuned.csv``, long format
  (``prunelab.stats.evaluation.plot_tables``).
"""

from __future__ import annotations

import argparse
import sys

from prunelab.schema.data import DATA
from prunelab.schema.finetune import FINETUNE
from prunelab.schema.gradual import GRADUAL
from prunelab.schema.lottery import LOTTERY
from prunelab.schema.prune import PRUNE
from prunelab.schema.reconstruct import RECONSTRUCT
from prunelab.schema.scratch import SCRATCH
from prunelab.schema.train import TRAIN
from prunelab.stats.curves import accuracy_headlines
from prunelab.stats.evaluation import curves_csv, evaluate, plot_tables
from prunelab.wiring import entry
from prunelab.wiring.atomic import json_bytes, write_files
from prunelab.wiring.entry import run_stage
from prunelab.wiring.layout import curve_csv_path, headline_path, plot_table_path
from prunelab.wiring.params import load_params

# Flag -> help of the inputs and outputs every run needs, then of the optional outputs.
INPUTS = {
    "--data": "folder with the IDX files",
    "--models": "folder of seed-<s>/dense.npz",
    "--pruned": "the prune stage's folder",
    "--finetuned": "the finetune stage's folder",
    "--metrics": "output pruning JSON",
    "--finetune-metrics": "output fine-tuning JSON",
    "--curves-dir": "output folder of CSVs",
}
OPTIONAL_OUTPUTS = {
    "--headlines-dir": "output folder of one JSON per curve, {k<k>: mean test accuracy}: "
                       "what `dvc metrics show` prints",
    "--plots-dir": "output folder of the long-format CSVs for `dvc plots`",
}


def run(args: argparse.Namespace) -> None:
    params = load_params(
        args.params, DATA, TRAIN, PRUNE, RECONSTRUCT, FINETUNE, GRADUAL, SCRATCH, LOTTERY,
    )
    document, finetune_document, curves = evaluate(
        params, args.data, args.models, args.pruned, args.finetuned
    )
    files = {
        args.metrics: json_bytes(document),
        args.finetune_metrics: json_bytes(finetune_document),
        **{curve_csv_path(args.curves_dir, schedule, method): curves_csv(entries).encode()
           for (schedule, method), entries in curves.items()},
    }
    if args.headlines_dir:
        files.update({
            headline_path(args.headlines_dir, name): json_bytes(row)
            for name, row in accuracy_headlines(document, finetune_document, params).items()
        })
    if args.plots_dir:
        files.update({plot_table_path(args.plots_dir, name): table.encode()
                      for name, table in plot_tables(params, curves).items()})
    write_files(files)
    print(f"evaluate: wrote {', '.join(str(path) for path in files)}")


def main(argv: list[str] | None = None) -> int:
    args = entry.paths_parser(__doc__, INPUTS, OPTIONAL_OUTPUTS).parse_args(argv)
    return run_stage("evaluate", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
