"""Stage prune: remove ``k`` percent of every hidden kernel by one method; keep the logits kernel.

One call per (method, k), pruning the dense model of every seed in ``train.seeds``:
``{models}/seed-<s>/dense.npz`` -> ``{out}/seed-<s>.npz`` (``random`` draws its positions with
the model's own seed). Reads and writes TensorFlow-free ``.npz`` kernels, so it starts in well
under a second; see ``prunelab.pruning`` for exactly what is removed. All or nothing: the
output folder is replaced only once every seed is pruned.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from prunelab.atomic import replace_folder
from prunelab.layout import dense_path, seed_path
from prunelab.params import PRUNE_METHODS, ParamsError, load_params, parse_choice, parse_percent
from prunelab.pruning import prune_network
from prunelab.weights import WeightsError, load_kernels, save_kernels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    # Method and k are read as strings and checked below, after the params file, so every
    # bad value gets the stage's own message and exit code 1 (argparse would exit with 2).
    parser.add_argument("--method", required=True, help=f"one of {', '.join(PRUNE_METHODS)}")
    parser.add_argument("--k", required=True, help="percentage to prune, an integer in [0, 100)")
    parser.add_argument("--models", type=Path, required=True,
                        help="folder of seed-<s>/dense.npz (the train stage's output)")
    parser.add_argument("--out", type=Path, required=True, help="output folder of seed-<s>.npz")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        method = parse_choice("--method", args.method, PRUNE_METHODS)
        k = parse_percent("--k", args.k)
    except ParamsError as error:
        print(f"prune: error: {error}", file=sys.stderr)
        return 1
    pruned = {}
    for seed in params["train"]["seeds"]:
        try:
            kernels = load_kernels(dense_path(args.models, seed))
        except WeightsError as error:
            print(f"prune: error: cannot read kernels: {error}", file=sys.stderr)
            return 1
        pruned[seed] = prune_network(kernels, method, k, seed=seed)
        zeros = ", ".join(
            f"{int(np.count_nonzero(kernel == 0))}/{kernel.size}" for kernel in pruned[seed]
        )
        print(f"prune: method={method} k={k} seed={seed} zeros per matrix: {zeros}")
    with replace_folder(args.out) as staging:
        for seed, kernels in pruned.items():
            save_kernels(kernels, seed_path(staging, seed))
    print(f"prune: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
