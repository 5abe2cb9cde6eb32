"""Stage export_compact: each unit-pruned network as a real, smaller Keras model.

The models of the first seed of ``train.seeds``. Dead hidden units (zero incoming column or zero outgoing row) are removed physically, so
``unit-90`` becomes a 784-100-100-50-20-10 model: ordinary dense layers, loadable with
``keras.models.load_model`` and no custom objects, whose logits equal the masked dense model's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from prunelab.atomic import replace_folder
from prunelab.layout import seed_path
from prunelab.params import ParamsError, load_params
from prunelab.weights import WeightsError, load_kernels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--pruned-dir", type=Path, required=True,
                        help="the prune stage's folder of <method>-<k>/seed-<s>.npz")
    parser.add_argument("--out", type=Path, required=True, help="folder for unit-{k}.keras")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
    except ParamsError as error:
        print(f"export_compact: error: {error}", file=sys.stderr)
        return 1
    prune, seed = params["prune"], params["train"]["seeds"][0]
    ks = sorted(prune["ks"]) if "unit" in prune["methods"] else []
    try:  # all of them before TensorFlow starts, so a bad file fails fast
        pruned = [load_kernels(seed_path(args.pruned_dir / f"unit-{k}", seed)) for k in ks]
    except WeightsError as error:
        print(f"export_compact: error: {error}", file=sys.stderr)
        return 1

    from prunelab.sparse_exec import build_compact_keras, compact

    with replace_folder(args.out) as staging:
        for k, kernels in zip(ks, pruned):
            model = build_compact_keras(compact(kernels))
            model.save(staging / f"unit-{k}.keras")
            widths = [layer.units for layer in model.layers if hasattr(layer, "units")]
            print(f"export_compact: unit-{k}: 784-" + "-".join(map(str, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
