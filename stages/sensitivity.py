"""Stage sensitivity: prune one hidden matrix at a time, the others dense; test accuracy.

For every seed of ``train.seeds``, method of ``sensitivity.methods`` (``weight`` or ``unit``),
hidden kernel ``l`` and ``k`` of ``sensitivity.ks``: kernel ``l`` of the seed's dense model is
pruned by ``prunelab.pruning.masks.prune_matrix`` and the network evaluated on the test split with
the TensorFlow-free forward pass (``prunelab.stats.sensitivity``). Writes ``--metrics``:
``{"seeds", "spread", "<method>": {"kernel_<l>": {"<k>": {"test_accuracy", "_min", "_max",
"_seeds"}}}}`` (means over seeds), all or nothing.
"""

from __future__ import annotations

import argparse
import sys

from prunelab.data.datasets import load_test
from prunelab.schema.data import DATA
from prunelab.schema.sensitivity import SENSITIVITY
from prunelab.schema.train import TRAIN
from prunelab.stats.evaluation import load_dense
from prunelab.stats.sensitivity import layer_sensitivity
from prunelab.wiring import entry
from prunelab.wiring.atomic import write_json
from prunelab.wiring.entry import run_stage
from prunelab.wiring.params import load_params


def run(args: argparse.Namespace) -> None:
    params = load_params(args.params, DATA, TRAIN, SENSITIVITY)
    test = load_test(args.data, params.data.test_images)
    dense = load_dense(args.models, params.train.seeds, args.data, test)
    settings = params.sensitivity
    document = layer_sensitivity(dense, settings.methods, settings.ks, test.images, test.labels)
    write_json(document, args.metrics)
    print(f"sensitivity: wrote {args.metrics}")


def main(argv: list[str] | None = None) -> int:
    args = entry.paths_parser(__doc__, {
        "--data": "folder with the IDX files",
        "--models": "folder of seed-<s>/dense.npz",
        "--metrics": "output JSON",
    }).parse_args(argv)
    return run_stage("sensitivity", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
