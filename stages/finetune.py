"""Stage finetune: retrain one one-shot pruned network with its mask fixed, for one (method, k,
seed).

``--start`` is the one-shot pruned model (prune or reconstruct stage) of the seed. Its zero
pattern is the mask (the logits kernel is never masked); the live sub-network -- dead units can
neither change the logits nor learn -- is trained on the seed's training split only (the
validation split is carved exactly as in the train stage), with the mask re-applied after every
optimiser step, and written back into the full shapes. ``k = 0`` is the control: the dense
network trained for the same steps. The weights the mask removed are still exactly zero (checked
before writing). Writes ``--out`` (``.npz``) and ``--log`` (seconds, optimiser steps, validation
accuracy), both or none. Imports nothing of the pruning core: see ``prunelab.retraining.finetune``.
"""

from __future__ import annotations

import argparse
import sys
import time

from prunelab.model.weights import load_kernels
from prunelab.retraining.finetune import finetune_oneshot
from prunelab.retraining.stage_io import (
    retraining_log,
    retraining_parser,
    training_split,
    write_model_and_log,
)
from prunelab.schema.data import DATA
from prunelab.schema.finetune import FINETUNE
from prunelab.schema.train import TRAIN
from prunelab.wiring import entry
from prunelab.wiring.names import PRUNE_METHODS, RECONSTRUCT_METHODS
from prunelab.wiring.params import load_params


def main(argv: list[str] | None = None) -> int:
    parser = retraining_parser(__doc__, method_help="a method of prune or reconstruct",
                               start="the pruned .npz")
    args = parser.parse_args(argv)
    return entry.run_stage("finetune", lambda: finetune(args))


def finetune(args: argparse.Namespace) -> None:
    params = load_params(args.params, DATA, TRAIN, FINETUNE)
    method, k, seed = entry.parse_instance(args, PRUNE_METHODS + RECONSTRUCT_METHODS)
    pruned = load_kernels(args.start)
    fit, val = training_split(args.data, params, seed)
    import keras

    keras.utils.set_random_seed(seed)  # dropout and shuffles, as in the train stage
    started = time.perf_counter()
    kernels, masks, steps = finetune_oneshot(pruned, seed, fit, params)
    log = retraining_log(kernels, masks, val, time.perf_counter() - started, steps)
    write_model_and_log(args.out, args.log, kernels, log, f"finetune: {method}-{k} seed {seed}")


if __name__ == "__main__":
    sys.exit(main())
