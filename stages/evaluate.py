"""Stage evaluate: test accuracy, loss and size figures of the dense and every pruned network.

The models are exactly ``prune.methods`` x ``prune.ks`` of the params file, read from
``{pruned-dir}/{method}-{k}.npz`` (the folder is never listed: DVC leaves files of removed
items behind). Runs the TensorFlow-free forward pass of ``prunelab.weights`` on the test split
(the first ``data.test_images`` examples, 0 = all); see ``prunelab.sparsity`` for the figures.

Writes, all or nothing:

* ``--metrics`` JSON: ``{"test_examples": n, "dense": {...}, "<method>": {"<k>": {...}}}``;
  every model has ``test_accuracy``, ``test_loss`` and the ``model_stats`` figures (per-layer
  lists become objects keyed ``kernel_<i>`` / ``hidden_<i>`` so ``dvc metrics`` shows them),
  pruned models also ``accuracy_drop`` (dense minus pruned accuracy), and ``dense`` has
  ``magnitudes``: per-kernel facts about ``|w|``.
* ``--curves-dir``/``<method>.csv``: one row per k, ascending, for ``dvc plots``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from prunelab.datasets import load_test_split
from prunelab.idx import IdxError
from prunelab.atomic import write_files
from prunelab.params import ParamsError, load_params
from prunelab.sparsity import accuracy_and_loss, magnitude_stats, model_stats
from prunelab.weights import WeightsError, load_kernels

CURVE_COLUMNS = (
    "k",
    "sparsity",
    "sparsity_hidden",
    "effective_sparsity",
    "effective_sparsity_hidden",
    "test_accuracy",
    "test_loss",
    "nonzero_params",
    "compression_ratio",
    "mac_reduction",
    "sparse_mac_reduction",
)
DIGITS = 6


class EvaluateError(RuntimeError):
    """A problem with the stage's inputs; the message says what to do."""


def pruned_path(pruned_dir: Path, method: str, k: int) -> Path:
    """Where the prune stage writes the model of ``method`` at ``k`` percent."""
    return pruned_dir / f"{method}-{k}.npz"


def rounded(value: Any) -> Any:
    """``value`` with every float rounded to :data:`DIGITS` decimals (recursively)."""
    if isinstance(value, float):
        return round(value, DIGITS)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def model_entry(kernels: list[np.ndarray], images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, loss and size figures of one network, JSON-ready and rounded."""
    accuracy, loss = accuracy_and_loss(kernels, images, labels)
    stats = model_stats(kernels)
    stats.pop("shrunk_layer_sizes")  # the same information as alive_units
    per_kernel = {
        key: {f"kernel_{i}": v for i, v in enumerate(stats.pop(key))}
        for key in ("layer_sparsity", "layer_effective_sparsity")
    }
    alive = {f"hidden_{i}": v for i, v in enumerate(stats.pop("alive_units"))}
    return rounded(
        {"test_accuracy": accuracy, "test_loss": loss, **stats, "alive_units": alive, **per_kernel}
    )


def curves_csv(entries: dict[int, dict]) -> str:
    """One method's CSV: a header of :data:`CURVE_COLUMNS`, then one row per k, ascending."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CURVE_COLUMNS)
    for k in sorted(entries):
        row = {"k": k, **entries[k]}
        writer.writerow(["" if row[c] is None else row[c] for c in CURVE_COLUMNS])
    return buffer.getvalue()


def read_model(path: Path, reference: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """The kernels at ``path``; with ``reference``, also check they have its shapes."""
    try:
        kernels = load_kernels(path)
    except WeightsError as error:
        raise EvaluateError(str(error)) from None
    if reference is not None:
        shapes = [k.shape for k in kernels]
        expected = [k.shape for k in reference]
        if shapes != expected:
            raise EvaluateError(
                f"{path} has kernel shapes {shapes}, the dense model {expected}: a stale file? "
                "Run `dvc repro` to rebuild the pruned models"
            )
    return kernels


def evaluate(
    params: dict, data: Path, dense_path: Path, pruned_dir: Path
) -> tuple[dict, dict[str, dict[int, dict]]]:
    """The metrics document and, per method, the entries by k. Raises :class:`EvaluateError`."""
    methods, ks = params["prune"]["methods"], sorted(params["prune"]["ks"])
    wanted = [dense_path] + [pruned_path(pruned_dir, m, k) for m in methods for k in ks]
    missing = [str(path) for path in wanted if not path.is_file()]
    if missing:
        raise EvaluateError(
            f"missing model file(s): {', '.join(missing)}. They are made by the train and prune "
            "stages for every method and k of params.yaml: run `dvc repro` first"
        )
    try:
        test = load_test_split(data, params["data"]["test_images"])
    except (OSError, IdxError, ValueError) as error:
        raise EvaluateError(
            f"cannot read the test split from {data}: {error} (run `dvc repro fetch_data`)"
        ) from None
    if len(test.labels) == 0:
        raise EvaluateError(f"{data} holds no test examples")

    dense = read_model(dense_path)
    if dense[0].shape[0] != test.images.shape[1]:
        raise EvaluateError(
            f"{dense_path} takes {dense[0].shape[0]} inputs but the images of {data} have "
            f"{test.images.shape[1]} pixels"
        )
    dense_entry = model_entry(dense, test.images, test.labels)
    dense_entry["magnitudes"] = rounded(
        {f"kernel_{i}": magnitude_stats(kernel) for i, kernel in enumerate(dense)}
    )
    print(_summary("dense", dense_entry), flush=True)
    document: dict[str, Any] = {"test_examples": int(len(test.labels)), "dense": dense_entry}
    by_method: dict[str, dict[int, dict]] = {}
    for method in methods:
        by_method[method] = {}
        for k in ks:
            kernels = read_model(pruned_path(pruned_dir, method, k), reference=dense)
            entry = model_entry(kernels, test.images, test.labels)
            drop = dense_entry["test_accuracy"] - entry["test_accuracy"]
            entry = {"test_accuracy": entry.pop("test_accuracy"), "accuracy_drop": drop, **entry}
            entry = rounded(entry)
            by_method[method][k] = entry
            print(_summary(f"{method}-{k}", entry), flush=True)
        document[method] = {str(k): entry for k, entry in by_method[method].items()}
    return document, by_method


def _summary(name: str, entry: dict) -> str:
    return (
        f"evaluate: {name:>10}  accuracy {entry['test_accuracy']:.4f}  "
        f"loss {entry['test_loss']:.4f}  sparsity {entry['sparsity']:.4f}  "
        f"effective {entry['effective_sparsity']:.4f}  alive "
        f"{list(entry['alive_units'].values())}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder with the IDX files")
    parser.add_argument("--dense", type=Path, required=True, help="the dense model's .npz")
    parser.add_argument("--pruned-dir", type=Path, required=True, help="folder of pruned .npz")
    parser.add_argument("--metrics", type=Path, required=True, help="output metrics JSON")
    parser.add_argument("--curves-dir", type=Path, required=True, help="output folder of CSVs")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        document, by_method = evaluate(params, args.data, args.dense, args.pruned_dir)
    except (ParamsError, EvaluateError) as error:
        print(f"evaluate: error: {error}", file=sys.stderr)
        return 1
    files = {
        args.metrics: (json.dumps(document, indent=2, allow_nan=False) + "\n").encode(),
        **{
            args.curves_dir / f"{method}.csv": curves_csv(entries).encode()
            for method, entries in by_method.items()
        },
    }
    write_files(files)
    print(f"evaluate: wrote {', '.join(str(path) for path in files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
