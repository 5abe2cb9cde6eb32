"""Stage prune: remove ``k`` percent of every hidden kernel of one seed's model by one method.

One call per (method, k, seed): ``--dense`` (the train stage's ``dense.npz``) -> ``--out``
(``.npz``); the logits kernel is kept. ``random`` draws its positions with the model's own seed.
Reads and writes TensorFlow-free ``.npz`` kernels and no data, so it starts in well under a
second; see ``prunelab.pruning.masks`` for exactly what is removed.
"""

from __future__ import annotations

import argparse
import sys

from prunelab.model.weights import load_kernels, save_kernels, zero_counts
from prunelab.pruning.masks import prune_network
from prunelab.wiring import entry
from prunelab.wiring.names import PRUNE_METHODS


def main(argv: list[str] | None = None) -> int:
    parser = entry.stage_parser(__doc__.split("\n\n")[0])
    entry.add_instance_arguments(parser, f"one of {', '.join(PRUNE_METHODS)}")
    entry.add_path_arguments(parser, dense="the seed's dense.npz", out="output .npz")
    args = parser.parse_args(argv)
    return entry.run_stage("prune", lambda: prune(args))


def prune(args: argparse.Namespace) -> None:
    method, k, seed = entry.parse_instance(args, PRUNE_METHODS)
    kernels = prune_network(load_kernels(args.dense), method, k, seed=seed)
    save_kernels(kernels, args.out)
    print(f"prune: {method}-{k} seed {seed}: zeros per matrix {zero_counts(kernels)}")


if __name__ == "__main__":
    sys.exit(main())
