"""Stage export_compact: each unit-pruned network as a real, smaller Keras model.

Dead hidden units (zero incoming column or zero outgoing row) are removed physically, so
``unit-90`` becomes a 784-100-100-50-20-10 model: ordinary dense layers, loadable with
``keras.models.load_model`` and no custom objects, whose logits equal the masked dense model's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from prunelab.params import ParamsError, load_params
from prunelab.weights import WeightsError, load_kernels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--pruned-dir", type=Path, required=True, help="{method}-{k}.npz files")
    parser.add_argument("--out", type=Path, required=True, help="folder for unit-{k}.keras")
    args = parser.parse_args(argv)
    try:
        prune = load_params(args.params)["prune"]
    except ParamsError as error:
        print(f"export_compact: error: {error}", file=sys.stderr)
        return 1
    ks = sorted(prune["ks"]) if "unit" in prune["methods"] else []
    try:  # all of them before TensorFlow starts, so a bad file fails fast
        pruned = [load_kernels(args.pruned_dir / f"unit-{k}.npz") for k in ks]
    except WeightsError as error:
        print(f"export_compact: error: {error}", file=sys.stderr)
        return 1

    from prunelab.sparse_exec import build_compact_keras, compact

    args.out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{args.out.name}-", dir=args.out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the models are not
    try:
        for k, kernels in zip(ks, pruned):
            model = build_compact_keras(compact(kernels))
            model.save(staging / f"unit-{k}.keras")
            widths = [layer.units for layer in model.layers if hasattr(layer, "units")]
            print(f"export_compact: unit-{k}: 784-" + "-".join(map(str, widths)))
        if args.out.exists():
            shutil.rmtree(args.out)
        os.replace(staging, args.out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
