"""Stage sensitivity: prune one hidden matrix at a time, the others dense; test accuracy.

For every seed of ``train.seeds``, method of ``sensitivity.methods`` (``weight`` or ``unit``),
hidden kernel ``l`` and ``k`` of ``sensitivity.ks``: kernel ``l`` of the seed's dense model is
pruned by ``prunelab.pruning.prune_matrix`` and the network evaluated on the test split with the
TensorFlow-free forward pass. Writes ``--metrics``:
``{"seeds", "spread", "<method>": {"kernel_<l>": {"<k>": {"test_accuracy", "_min", "_max",
"_seeds"}}}}`` (means over seeds), all or nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from prunelab.atomic import write_json
from prunelab.datasets import load_test_split
from prunelab.layout import dense_path
from prunelab.params import ParamsError, load_params
from prunelab.pruning import prune_matrix
from prunelab.sparsity import accuracy_and_loss
from prunelab.weights import WeightsError, load_kernels


def layer_sensitivity(
    dense: dict[int, list[np.ndarray]],
    methods: list[str],
    ks: list[int],
    images: np.ndarray,
    labels: np.ndarray,
) -> dict:
    """The metrics document for dense models by seed (see the module docstring)."""
    seeds = list(dense)
    document: dict = {"seeds": seeds, "spread": "min and max over seeds"}
    hidden = len(dense[seeds[0]]) - 1
    for method in methods:
        by_layer = document.setdefault(method, {})
        for layer in range(hidden):
            for k in sorted(ks):
                accuracy = {}
                for seed in seeds:
                    kernels = list(dense[seed])
                    kernels[layer] = prune_matrix(kernels[layer], method, k)
                    accuracy[seed] = round(accuracy_and_loss(kernels, images, labels)[0], 6)
                values = list(accuracy.values())
                by_layer.setdefault(f"kernel_{layer}", {})[str(k)] = {
                    "test_accuracy": round(float(np.mean(values)), 6),
                    "test_accuracy_min": min(values),
                    "test_accuracy_max": max(values),
                    "test_accuracy_seeds": {f"seed_{s}": a for s, a in accuracy.items()},
                }
            row = by_layer[f"kernel_{layer}"]
            print(
                f"sensitivity: {method} kernel_{layer}: "
                + " ".join(f"{k}%:{row[k]['test_accuracy']:.3f}" for k in row),
                flush=True,
            )
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder with the IDX files")
    parser.add_argument("--models", type=Path, required=True, help="folder of seed-<s>/dense.npz")
    parser.add_argument("--metrics", type=Path, required=True, help="output JSON")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        dense = {
            seed: load_kernels(dense_path(args.models, seed))
            for seed in params["train"]["seeds"]
        }
        test = load_test_split(args.data, params["data"]["test_images"])
    except (ParamsError, WeightsError, OSError, ValueError) as error:
        print(f"sensitivity: error: {error}", file=sys.stderr)
        return 1
    cfg = params["sensitivity"]
    document = layer_sensitivity(dense, cfg["methods"], cfg["ks"], test.images, test.labels)
    write_json(document, args.metrics)
    print(f"sensitivity: wrote {args.metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
