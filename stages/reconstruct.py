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

from prunelab import entry
from prunelab.calibration import calibration_indices
from prunelab.datasets import load_train_split
from prunelab.params import load_params
from prunelab.pruning import RECONSTRUCT_METHODS
from prunelab.reconstruct import reconstruct_network
from prunelab.sparsity import zero_counts
from prunelab.weights import load_kernels, save_kernels


def main(argv: list[str] | None = None) -> int:
    parser = entry.stage_parser(__doc__.split("\n\n")[0])
    entry.add_instance_arguments(parser, ", ".join(RECONSTRUCT_METHODS))
    entry.add_path_arguments(
        parser, data="folder with the IDX files", dense="the seed's dense.npz", out="output .npz"
    )
    args = parser.parse_args(argv)
    return entry.run_stage("reconstruct", lambda: reconstruct(args))


def reconstruct(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    method, k, seed = entry.parse_instance(args, RECONSTRUCT_METHODS, params)
    dense = load_kernels(args.dense)
    settings = params.reconstruct
    train = load_train_split(args.data, params.data.train_images)
    # calibration_indices knows the fit part's size (it re-derives the validation split).
    with entry.input_problem("lower reconstruct.calibration_images (or raise data.train_images)"):
        rows = calibration_indices(
            len(train.labels), params.train.validation_split, seed, settings.calibration_images
        )
    # Wanda updates no weight, so it has nothing to refit in the logits kernel either.
    refit_logits = settings.refit_logits and method != "wanda"
    kernels = reconstruct_network(
        dense, method, k, train.images[rows], ridge=settings.ridge, refit_logits=refit_logits
    )
    save_kernels(kernels, args.out)
    print(f"reconstruct: {method}-{k} seed {seed}: zeros per matrix {zero_counts(kernels)}")


if __name__ == "__main__":
    sys.exit(main())
