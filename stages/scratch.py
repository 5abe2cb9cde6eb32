"""Stage scratch: unit pruning's compact architecture at k trained from scratch, for one (k, seed).

The control of "Rethinking the Value of Network Pruning" (Liu et al., ICLR 2019): would the small
network, trained directly, do as well as pruning gives? ``--start`` is the seed's unit-pruned
model at k (prune stage): only its live widths are taken (784-100-100-50-20-10 at 90 %), never
its weights. The network of those widths is initialised afresh (Keras' random state set to the
seed) and trained with the train stage's recipe, epochs and data, the best-validation epoch
restored (``prunelab.retraining.controls``). Writes ``--out`` (``.npz``, the full shapes, zero
outside the live units, so it is read like any pruned network) and ``--log`` (seconds, steps,
epochs, restored epoch, validation accuracy), both or none.
"""

from __future__ import annotations

import argparse
import sys

from prunelab.model.weights import load_kernels
from prunelab.retraining.controls import embed, scratch_network, train_control
from prunelab.retraining.stage_io import retraining_parser, training_split, write_model_and_log
from prunelab.schema.data import DATA
from prunelab.schema.train import TRAIN
from prunelab.wiring import entry
from prunelab.wiring.params import load_params, parse_percent, parse_seed


def main(argv: list[str] | None = None) -> int:
    parser = retraining_parser(__doc__, method_help=None,
                               start="the unit-pruned .npz whose widths are trained")
    args = parser.parse_args(argv)
    return entry.run_stage("scratch", lambda: scratch(args))


def scratch(args: argparse.Namespace) -> None:
    params = load_params(args.params, DATA, TRAIN)
    k, seed = parse_percent("--k", args.k), parse_seed("--seed", args.seed, args.params)
    unit_pruned = load_kernels(args.start)
    fit, val = training_split(args.data, params, seed)
    small, masks = scratch_network(unit_pruned, seed, params.train.dropout)
    label = f"scratch: k {k} seed {seed}"
    trained, log = train_control(small, masks, seed, fit, val, params, label)
    write_model_and_log(args.out, args.log, embed(trained, unit_pruned), log, label)


if __name__ == "__main__":
    sys.exit(main())
