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

import sys

from prunelab.retraining.gradual import finetune_gradual
from prunelab.retraining.stage import retrain_stage, retraining_parser
from prunelab.wiring import entry
from prunelab.wiring.names import PRUNE_METHODS


def main(argv: list[str] | None = None) -> int:
    parser = retraining_parser(__doc__, f"one of {', '.join(PRUNE_METHODS)}", "the dense.npz")
    args = parser.parse_args(argv)
    return entry.run_stage("gradual", lambda: retrain_stage(
        args, "gradual", PRUNE_METHODS, finetune_gradual))


if __name__ == "__main__":
    sys.exit(main())
