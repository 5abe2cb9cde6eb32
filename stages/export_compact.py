"""Stage export_compact: each unit-pruned network as a real, smaller Keras model.

The models of one seed, ``--seed`` (the first of ``train.seeds``). Dead hidden units (zero
incoming column or zero outgoing row) are removed physically, so ``unit-90`` becomes a
784-100-100-50-20-10 model: ordinary dense layers, loadable with ``keras.models.load_model`` and
no custom objects, whose logits equal the masked dense model's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prunelab.model.weights import load_kernels
from prunelab.schema.prune import PRUNE
from prunelab.wiring.atomic import replace_folder
from prunelab.wiring.entry import prepare_tensorflow, run_stage
from prunelab.wiring.layout import compact_model_path, pruned_path
from prunelab.wiring.params import load_params, parse_seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--pruned-dir", type=Path, required=True,
                        help="the prune stage's folder of seed-<s>/<method>/<k>.npz")
    parser.add_argument("--seed", required=True, help="the seed whose models are exported")
    parser.add_argument("--out", type=Path, required=True, help="folder for unit-{k}.keras")
    args = parser.parse_args(argv)
    return run_stage("export_compact", lambda: export(args))


def export(args: argparse.Namespace) -> None:
    params = load_params(args.params, PRUNE)
    seed = parse_seed("--seed", args.seed, args.params)
    ks = sorted(params.prune.ks) if "unit" in params.prune.methods else []
    # All of them before TensorFlow starts, so a bad file fails fast.
    pruned = [load_kernels(pruned_path(args.pruned_dir, seed, "unit", k)) for k in ks]
    prepare_tensorflow()
    from prunelab.speed.routes.base import compact
    from prunelab.speed.routes.keras_model import build_compact_keras

    with replace_folder(args.out) as staging:
        for k, kernels in zip(ks, pruned, strict=True):
            model = build_compact_keras(compact(kernels))
            model.save(compact_model_path(staging, k))
            widths = [layer.units for layer in model.layers if hasattr(layer, "units")]
            print(f"export_compact: unit-{k}: {kernels[0].shape[0]}-" + "-".join(map(str, widths)))


if __name__ == "__main__":
    sys.exit(main())
