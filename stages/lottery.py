"""Stage lottery: weight pruning's mask at k on the seed's initial weights, retrained, for one
(k, seed); with ``--reinit``, the same mask on another initialisation (the control).

"The Lottery Ticket Hypothesis" (Frankle & Carbin, ICLR 2019): the mask of the trained network's
weight pruning at k (``--mask``, the prune stage's model: its zero pattern, never its weights),
applied to the weights the train stage started from (``--init``, kept by that stage), trained
with the mask fixed for the train stage's whole recipe, epochs and data, the best-validation
epoch restored (``prunelab.retraining.controls``). ``--reinit`` instead draws a fresh
initialisation of the same shapes (another seed of the same distribution). The weights the mask
removed are still exactly zero at the end (checked before writing). Writes ``--out`` (``.npz``)
and ``--log`` (seconds, steps, epochs, restored epoch, validation accuracy), both or none.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prunelab.model.weights import load_kernels
from prunelab.retraining.control_stage import control_stage
from prunelab.retraining.controls import reinitialised, ticket_start
from prunelab.wiring import entry


def main(argv: list[str] | None = None) -> int:
    parser = entry.stage_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--k", required=True, help="the percentage of weights pruned")
    parser.add_argument("--seed", required=True, help="one of train.seeds")
    start_from = parser.add_mutually_exclusive_group(required=True)
    start_from.add_argument("--init", type=Path,
                            help="the seed's initial kernels (train stage): a lottery ticket")
    start_from.add_argument("--reinit", action="store_true",
                            help="a fresh initialisation instead: the control")
    entry.add_path_arguments(parser, data="folder with the IDX files",
                             mask="the weight-pruned .npz whose zero pattern is the mask",
                             out="output .npz", log="output JSON log")
    args = parser.parse_args(argv)

    def start(params, k, seed):
        pruned = load_kernels(args.mask)
        initial = (reinitialised(seed, params.train.dropout) if args.reinit
                   else load_kernels(args.init))
        kernels, masks = ticket_start(initial, pruned)
        return kernels, masks, lambda trained: trained

    schedule = "reinit" if args.reinit else "lottery"
    return entry.run_stage(schedule, lambda: control_stage(args, schedule, start))


if __name__ == "__main__":
    sys.exit(main())
