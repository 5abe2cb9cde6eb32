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

import argparse
import sys
from pathlib import Path

from prunelab.model.weights import hidden_widths, load_kernels
from prunelab.retraining.controls import reinitialised, ticket_start, train_control
from prunelab.retraining.stage_io import retraining_parser, training_split, write_model_and_log
from prunelab.schema.data import DATA
from prunelab.schema.train import TRAIN
from prunelab.wiring import entry
from prunelab.wiring.params import load_params, parse_percent, parse_seed


def main(argv: list[str] | None = None) -> int:
    parser = retraining_parser(__doc__, method_help=None,
                               mask="the weight-pruned .npz whose zero pattern is the mask")
    start_from = parser.add_mutually_exclusive_group(required=True)
    start_from.add_argument("--init", type=Path,
                            help="the seed's initial kernels (train stage): a lottery ticket")
    start_from.add_argument("--reinit", action="store_true",
                            help="a fresh initialisation instead: the control")
    args = parser.parse_args(argv)
    return entry.run_stage("reinit" if args.reinit else "lottery", lambda: lottery(args))


def lottery(args: argparse.Namespace) -> None:
    params = load_params(args.params, DATA, TRAIN)
    k, seed = parse_percent("--k", args.k), parse_seed("--seed", args.seed, args.params)
    fit, val = training_split(args.data, params, seed)
    pruned = load_kernels(args.mask)
    initial = (reinitialised(hidden_widths(pruned), seed, params.train.dropout) if args.reinit
               else load_kernels(args.init))
    start, masks = ticket_start(initial, pruned)
    label = f"{'reinit' if args.reinit else 'lottery'}: k {k} seed {seed}"
    trained, log = train_control(start, masks, seed, fit, val, params, label)
    write_model_and_log(args.out, args.log, trained, log, label)


if __name__ == "__main__":
    sys.exit(main())
