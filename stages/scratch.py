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

import sys

from prunelab.model.weights import load_kernels
from prunelab.retraining.control_stage import control_stage
from prunelab.retraining.controls import embed, scratch_network
from prunelab.wiring import entry


def main(argv: list[str] | None = None) -> int:
    parser = entry.stage_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--k", required=True, help="the percentage of units unit pruning removed")
    parser.add_argument("--seed", required=True, help="one of train.seeds")
    entry.add_path_arguments(parser, data="folder with the IDX files",
                             start="the unit-pruned .npz whose widths are trained",
                             out="output .npz", log="output JSON log")
    args = parser.parse_args(argv)

    def start(params, k, seed):
        unit_pruned = load_kernels(args.start)
        small, masks = scratch_network(unit_pruned, seed, params.train.dropout)
        return small, masks, lambda trained: embed(trained, unit_pruned)

    return entry.run_stage("scratch", lambda: control_stage(args, "scratch", start))


if __name__ == "__main__":
    sys.exit(main())
