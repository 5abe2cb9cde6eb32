"""Stage prune: remove ``k`` percent of every hidden kernel of one seed's model by one method.

One call per (method, k, seed): ``--dense`` (the train stage's ``dense.npz``) -> ``--out``
(``.npz``); the logits kernel is kept. ``random`` draws its positions with the model's own seed.
Reads and writes TensorFlow-free ``.npz`` kernels and no data, so it starts in well under a
second; see ``prunelab.pruning`` for exactly what is removed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prunelab.entry import run_stage
from prunelab.params import PRUNE_METHODS, load_params, parse_choice, parse_percent, parse_seed
from prunelab.pruning import prune_network
from prunelab.sparsity import zero_counts
from prunelab.weights import load_kernels, save_kernels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    # Read as strings and checked after the params file, so every bad value gets the stage's
    # own message and exit code 1 (argparse would exit with 2).
    parser.add_argument("--method", required=True, help=f"one of {', '.join(PRUNE_METHODS)}")
    parser.add_argument("--k", required=True, help="percentage to prune, an integer in [0, 100)")
    parser.add_argument("--seed", required=True, help="the model's training seed")
    parser.add_argument("--dense", type=Path, required=True, help="the seed's dense.npz")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    args = parser.parse_args(argv)

    def prune() -> None:
        params = load_params(args.params)
        method = parse_choice("--method", args.method, PRUNE_METHODS)
        k = parse_percent("--k", args.k)
        seed = parse_seed("--seed", args.seed, params["train"]["seeds"])
        kernels = prune_network(load_kernels(args.dense), method, k, seed=seed)
        save_kernels(kernels, args.out)
        print(f"prune: {method}-{k} seed {seed}: zeros per matrix {zero_counts(kernels)}")

    return run_stage("prune", prune)


if __name__ == "__main__":
    sys.exit(main())
