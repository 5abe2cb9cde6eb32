"""Stage reconstruct: one-shot pruning with calibration data, for one (method, k, seed).

The seed's dense model (``--dense``) is pruned layer by layer in network order by
``prunelab.pruning.reconstruct`` (``weight_refit``, ``unit_refit`` or ``wanda``), looking at the
activations of the seed's calibration images (``--calibration``, written once per seed by the
calibrate stage from the part of the training split the model was trained on). No gradient step,
no TensorFlow, no dataset file. Writes ``--out`` (``.npz``), in the prune stage's layout, so
later stages treat both alike.
"""

from __future__ import annotations

import argparse
import sys

from prunelab.data.calibration import load_calibration
from prunelab.model.weights import load_kernels, save_kernels, zero_counts
from prunelab.pruning.reconstruct import reconstruct_network
from prunelab.schema.reconstruct import RECONSTRUCT
from prunelab.wiring import entry
from prunelab.wiring.names import RECONSTRUCT_METHODS
from prunelab.wiring.params import load_params


def main(argv: list[str] | None = None) -> int:
    parser = entry.stage_parser(__doc__.split("\n\n")[0])
    entry.add_instance_arguments(parser, ", ".join(RECONSTRUCT_METHODS))
    entry.add_path_arguments(
        parser, calibration="the seed's calibration .npy", dense="the seed's dense.npz",
        out="output .npz",
    )
    args = parser.parse_args(argv)
    return entry.run_stage("reconstruct", lambda: reconstruct(args))


def reconstruct(args: argparse.Namespace) -> None:
    params = load_params(args.params, RECONSTRUCT)
    method, k, seed = entry.parse_instance(args, RECONSTRUCT_METHODS)
    dense = load_kernels(args.dense)
    calibration = load_calibration(args.calibration)
    settings = params.reconstruct
    # Wanda updates no weight, so it has nothing to refit in the logits kernel either.
    refit_logits = settings.refit_logits and method != "wanda"
    kernels = reconstruct_network(
        dense, method, k, calibration, ridge=settings.ridge, refit_logits=refit_logits
    )
    save_kernels(kernels, args.out)
    print(f"reconstruct: {method}-{k} seed {seed}: zeros per matrix {zero_counts(kernels)}")


if __name__ == "__main__":
    sys.exit(main())
