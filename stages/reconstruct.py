"""Stage reconstruct: one-shot pruning with calibration data, for one (method, k, seed).

The seed's dense model (``--dense``) is pruned layer by layer in network order by
``prunelab.reconstruct`` (``weight_refit``, ``unit_refit`` or ``wanda``), looking at the
activations of ``reconstruct.calibration_images`` training images. They are drawn, seeded by the
model's seed, from the part of the training split the model was trained on -- never from its
validation part, and the test file is never opened. No gradient step, no TensorFlow. Writes
``--out`` (``.npz``), in the prune stage's layout, so later stages treat both alike.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prunelab.datasets import load_train_split
from prunelab.entry import StageError, run_stage
from prunelab.params import (
    RECONSTRUCT_METHODS,
    load_params,
    parse_choice,
    parse_percent,
    parse_seed,
)
from prunelab.reconstruct import calibration_indices, reconstruct_network
from prunelab.sparsity import zero_counts
from prunelab.weights import load_kernels, save_kernels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--method", required=True, help=", ".join(RECONSTRUCT_METHODS))
    parser.add_argument("--k", required=True, help="percentage to prune, an integer in [0, 100)")
    parser.add_argument("--seed", required=True, help="the model's training seed")
    parser.add_argument("--data", type=Path, required=True, help="folder with the IDX files")
    parser.add_argument("--dense", type=Path, required=True, help="the seed's dense.npz")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    args = parser.parse_args(argv)
    return run_stage("reconstruct", lambda: reconstruct(args))


def reconstruct(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    method = parse_choice("--method", args.method, RECONSTRUCT_METHODS)
    k = parse_percent("--k", args.k)
    seed = parse_seed("--seed", args.seed, params["train"]["seeds"])
    dense = load_kernels(args.dense)
    cfg = params["reconstruct"]
    train = load_train_split(args.data, params["data"]["train_images"])
    fraction = params["train"]["validation_split"]
    fit_size = len(train.labels) - max(1, round(fraction * len(train.labels)))
    if cfg["calibration_images"] > fit_size:
        raise StageError(
            f"reconstruct.calibration_images is {cfg['calibration_images']} but the training "
            f"split holds only {fit_size} images outside validation: lower it (or raise "
            "data.train_images)"
        )
    rows = calibration_indices(len(train.labels), fraction, seed, cfg["calibration_images"])
    # Wanda updates no weight, so it has nothing to refit in the logits kernel either.
    refit_logits = cfg["refit_logits"] and method != "wanda"
    kernels = reconstruct_network(
        dense, method, k, train.images[rows], ridge=cfg["ridge"], refit_logits=refit_logits
    )
    save_kernels(kernels, args.out)
    print(f"reconstruct: {method}-{k} seed {seed}: zeros per matrix {zero_counts(kernels)}")


if __name__ == "__main__":
    sys.exit(main())
