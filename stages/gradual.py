"""Stage gradual: prune one seed's dense network gradually while it trains, for one (method, k,
seed).

``--start`` is the seed's dense model. The full network trains on the seed's training split
only (the validation split is carved exactly as in the train stage) while the sparsity rises
from 0 to ``k`` along the cubic schedule of Zhu & Gupta (``prunelab.retraining.gradual``): before
each scheduled step the mask is recomputed by ``method`` from the current weights; after the
ramp the final mask is fixed, and the weights it removed are still exactly zero at the end
(checked before writing). Writes ``--out`` (``.npz``) and ``--log`` (seconds, optimiser steps,
validation accuracy), both or none.
"""

from __future__ import annotations

import argparse
import sys
import time

from prunelab.model.weights import load_kernels
from prunelab.retraining.gradual import finetune_gradual
from prunelab.retraining.stage_io import (
    retraining_log,
    retraining_parser,
    training_split,
    write_model_and_log,
)
from prunelab.schema.data import DATA
from prunelab.schema.finetune import FINETUNE
from prunelab.schema.gradual import GRADUAL
from prunelab.schema.train import TRAIN
from prunelab.wiring import entry
from prunelab.wiring.names import PRUNE_METHODS
from prunelab.wiring.params import load_params


def main(argv: list[str] | None = None) -> int:
    parser = retraining_parser(__doc__, method_help=f"one of {', '.join(PRUNE_METHODS)}",
                               start="the dense.npz")
    args = parser.parse_args(argv)
    return entry.run_stage("gradual", lambda: gradual(args))


def gradual(args: argparse.Namespace) -> None:
    params = load_params(args.params, DATA, TRAIN, FINETUNE, GRADUAL)
    method, k, seed = entry.parse_instance(args, PRUNE_METHODS)
    dense = load_kernels(args.start)
    fit, val = training_split(args.data, params, seed)
    import keras

    keras.utils.set_random_seed(seed)  # dropout and shuffles, as in the train stage
    started = time.perf_counter()
    kernels, masks, steps = finetune_gradual(dense, method, k, seed, fit, params)
    log = retraining_log(kernels, masks, val, time.perf_counter() - started, steps)
    write_model_and_log(args.out, args.log, kernels, log, f"gradual: {method}-{k} seed {seed}")


if __name__ == "__main__":
    sys.exit(main())
