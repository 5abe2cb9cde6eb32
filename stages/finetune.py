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

import sys

from prunelab.retraining.finetune import finetune_oneshot
from prunelab.retraining.stage import retrain_stage, retraining_parser
from prunelab.wiring import entry
from prunelab.wiring.names import PRUNE_METHODS, RECONSTRUCT_METHODS


def main(argv: list[str] | None = None) -> int:
    parser = retraining_parser(__doc__, "a method of prune or reconstruct", "the pruned .npz")
    args = parser.parse_args(argv)
    return entry.run_stage("finetune", lambda: retrain_stage(
        args, "oneshot", PRUNE_METHODS + RECONSTRUCT_METHODS,
        lambda start, _method, _k, seed, fit, params: finetune_oneshot(start, seed, fit, params),
    ))


if __name__ == "__main__":
    sys.exit(main())
