"""Stage prune: remove ``k`` percent of every hidden kernel by one method; keep the logits kernel.

One call per (method, k). Reads and writes TensorFlow-free ``.npz`` kernels, so it starts in
well under a second; see ``prunelab.pruning`` for exactly what is removed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from prunelab.params import PRUNE_METHODS, ParamsError, load_params
from prunelab.pruning import prune_network
from prunelab.weights import WeightsError, load_kernels, save_kernels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    # Method and k are read as strings and checked below, after the params file, so every
    # bad value gets the stage's own message and exit code 1 (argparse would exit with 2).
    parser.add_argument("--method", required=True, help=f"one of {', '.join(PRUNE_METHODS)}")
    parser.add_argument("--k", required=True, help="percentage to prune, an integer in [0, 100)")
    parser.add_argument("--weights", type=Path, required=True, help="input .npz of kernels")
    parser.add_argument("--out", type=Path, required=True, help="output .npz of pruned kernels")
    args = parser.parse_args(argv)
    try:
        load_params(args.params)
        method, k = parse_method(args.method), parse_k(args.k)
    except ParamsError as error:
        print(f"prune: error: {error}", file=sys.stderr)
        return 1
    try:
        kernels = load_kernels(args.weights)
    except WeightsError as error:
        print(f"prune: error: cannot read kernels: {error}", file=sys.stderr)
        return 1
    pruned = prune_network(kernels, method, k)
    save_kernels(pruned, args.out)
    zeros = ", ".join(
        f"{int(np.count_nonzero(kernel == 0))}/{kernel.size}" for kernel in pruned
    )
    print(f"prune: method={method} k={k} zeros per matrix: {zeros} -> {args.out}")
    return 0


def parse_method(text: str) -> str:
    if text not in PRUNE_METHODS:
        allowed = ", ".join(repr(m) for m in PRUNE_METHODS)
        raise ParamsError(f"--method is {text!r}: it must be one of {allowed}")
    return text


def parse_k(text: str) -> int:
    # Stricter than int(), which would also take "5_0" or " 50".
    if re.fullmatch(r"[+-]?[0-9]+", text) is None:
        raise ParamsError(f"--k is {text!r}: it must be an integer in [0, 100)")
    k = int(text)
    if not 0 <= k < 100:
        raise ParamsError(f"--k is {k}: it must be an integer in [0, 100)")
    return k


if __name__ == "__main__":
    sys.exit(main())
