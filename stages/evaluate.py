"""Stage evaluate: test accuracy, loss and size figures of every dense, pruned and fine-tuned net.

The models are exactly those the params file asks for (folders are never listed: DVC leaves
files of removed items behind), for every seed ``s`` of ``train.seeds``:

* dense: ``{models}/seed-<s>/dense.npz``;
* one-shot pruned, ``prune.methods`` x ``prune.ks`` and ``reconstruct.methods`` x
  ``reconstruct.ks``: ``{pruned}/seed-<s>/<method>/<k>.npz``;
* fine-tuned, ``finetune.methods`` x ``finetune.ks`` and ``gradual.methods`` x ``gradual.ks``:
  ``{finetuned}/seed-<s>/<schedule>-<method>/<k>.npz`` with the stage's log ``<k>.json``.

Runs the TensorFlow-free forward pass of ``prunelab.weights`` on the test split (the first
``data.test_images`` examples, 0 = all); see ``prunelab.sparsity`` for the figures. Every
figure is the mean over seeds; ``test_accuracy`` and ``test_loss`` also come with their
``_min``, ``_max`` and per-seed values (``_seeds``). Writes, all or nothing:

* ``--metrics`` JSON: ``{"test_examples", "seeds", "dense": {...}, "<method>": {"<k>": {...}}}``
  (per-layer lists become objects keyed ``kernel_<i>`` / ``hidden_<i>`` so ``dvc metrics``
  shows them); pruned models also have ``accuracy_drop`` (dense minus pruned, mean over
  seeds), and ``dense`` has ``magnitudes`` of the first seed's kernels.
* ``--finetune-metrics`` JSON: ``{"<schedule>": {"<method>": {"<k>": {...}}}}``, each entry
  also with ``gain_over_oneshot`` (fine-tuned minus one-shot accuracy, mean over seeds),
  ``finetune_seconds`` (per seed, mean) and ``val_accuracy``.
* ``--curves-dir``: ``<method>.csv`` (one-shot) and ``<schedule>-<method>.csv`` (fine-tuned),
  one row per k, ascending.
* ``--headlines-dir``: the figures ``dvc metrics show`` prints, one JSON per curve keyed
  ``k<k>`` (``prunelab.curves.accuracy_headlines``); everything above is a report, not a metric.
* ``--plots-dir``: ``oneshot.csv`` and ``finetuned.csv``, long format (:func:`plot_tables`).

The curves come from ``prunelab.curves.oneshot_curves`` and ``finetuned_curves``.
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
from prunelab.layout import dense_path, finetuned_path, pruned_path
from prunelab.atomic import json_bytes, write_files
from prunelab.curves import accuracy_headlines, curve_name, finetuned_curves, oneshot_curves
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
    "test_accuracy_min",
    "test_accuracy_max",
    "test_loss",
    "nonzero_params",
    "compression_ratio",
    "mac_reduction",
    "sparse_mac_reduction",
)
DIGITS = 6
# Figures that get a spread over seeds besides their mean.
SPREAD_KEYS = ("test_accuracy", "test_loss")


class EvaluateError(RuntimeError):
    """A problem with the stage's inputs; the message says what to do."""


def over_seeds(entries: dict[int, dict]) -> dict:
    """One entry from per-seed entries: means, plus min, max and per-seed values of spread keys.

    Numbers are averaged (integers that agree over the seeds stay integers), nested objects
    are combined key by key, and anything else (``None``) is kept when the seeds agree.
    """
    seeds = list(entries)
    first = entries[seeds[0]]
    combined: dict[str, Any] = {}
    for key, value in first.items():
        values = [entries[seed][key] for seed in seeds]
        if isinstance(value, dict):
            combined[key] = over_seeds({seed: entries[seed][key] for seed in seeds})
        elif isinstance(value, int) and all(v == value for v in values):
            combined[key] = value
        elif all(isinstance(v, (int, float)) for v in values):
            combined[key] = float(np.mean(values))
        else:
            combined[key] = value if all(v == value for v in values) else None
        if key in SPREAD_KEYS:
            combined[f"{key}_min"] = min(values)
            combined[f"{key}_max"] = max(values)
            combined[f"{key}_seeds"] = {f"seed_{s}": v for s, v in zip(seeds, values)}
    return rounded(combined)


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


PLOT_COLUMNS = ("curve", "method", "schedule", "k", "sparsity", "test_accuracy",
                "test_accuracy_min", "test_accuracy_max", "test_loss", "test_loss_min",
                "test_loss_max")


def plot_tables(params: dict, curves: dict[str, dict[int, dict]]) -> dict[str, str]:
    """Long-format CSVs for ``dvc plots`` (a row per curve and k; the custom templates of
    ``.dvc/plots`` give each ``curve`` its colour and draw the min-max band):

    * ``oneshot``: every one-shot curve;
    * ``finetuned``: per fine-tuned method (``method`` is the panel), its one-shot curve and
      every retrained curve.
    """
    def rows(schedule: str | None, method: str) -> list[list]:
        entries = curves[method if schedule is None else f"{schedule}-{method}"]
        return [[curve_name(schedule, method), method, schedule or "none", k,
                 *[entries[k].get(c) for c in PLOT_COLUMNS[4:]]] for k in sorted(entries)]

    tuned = finetuned_curves(params)
    tables = {
        "oneshot": [row for method in oneshot_curves(params) for row in rows(None, method)],
        "finetuned": [
            row
            for method in dict.fromkeys(m for _, m in tuned)
            for schedule in [None] + [s for s, m in tuned if m == method]
            if schedule is not None or method in curves
            for row in rows(schedule, method)
        ],
    }
    out = {}
    for name, table in tables.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(PLOT_COLUMNS)
        writer.writerows([["" if v is None else v for v in row] for row in table])
        out[name] = buffer.getvalue()
    return out


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
    params: dict, data: Path, models: Path, pruned: Path, finetuned: Path
) -> tuple[dict, dict, dict[str, dict[int, dict]]]:
    """The pruning and fine-tuning metrics documents, and the curves by file stem.

    Raises :class:`EvaluateError`.
    """
    seeds = params["train"]["seeds"]
    oneshot = oneshot_curves(params)
    tuned = [
        (schedule, method, k)
        for (schedule, method), ks in finetuned_curves(params).items()
        for k in ks
    ]
    wanted = [dense_path(models, s) for s in seeds]
    wanted += [pruned_path(pruned, s, m, k) for m, ks in oneshot.items() for k in ks for s in seeds]
    wanted += [finetuned_path(finetuned, s, *t) for t in tuned for s in seeds]
    missing = [str(path) for path in wanted if not path.is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise EvaluateError(
            f"missing model file(s): {shown}. They are made by the train, prune, reconstruct "
            "and finetune stages for everything params.yaml lists: run `dvc repro` first"
        )
    try:
        test = load_test_split(data, params["data"]["test_images"])
    except (OSError, IdxError, ValueError) as error:
        raise EvaluateError(
            f"cannot read the test split from {data}: {error} (run `dvc repro fetch_data`)"
        ) from None
    if len(test.labels) == 0:
        raise EvaluateError(f"{data} holds no test examples")

    dense = {s: read_model(dense_path(models, s)) for s in seeds}
    first = dense[seeds[0]]
    if first[0].shape[0] != test.images.shape[1]:
        raise EvaluateError(
            f"{dense_path(models, seeds[0])} takes {first[0].shape[0]} inputs but the images "
            f"of {data} have {test.images.shape[1]} pixels"
        )

    def measure(name: str, kernels_by_seed: dict[int, list[np.ndarray]]) -> tuple[dict, dict]:
        per_seed = {s: model_entry(kernels, test.images, test.labels)
                    for s, kernels in kernels_by_seed.items()}
        entry = over_seeds(per_seed)
        print(_summary(name, entry), flush=True)
        return entry, {s: e["test_accuracy"] for s, e in per_seed.items()}

    dense_entry, dense_accuracy = measure("dense", dense)
    dense_entry["magnitudes"] = rounded(
        {f"kernel_{i}": magnitude_stats(kernel) for i, kernel in enumerate(first)}
    )
    document: dict[str, Any] = {
        "test_examples": int(len(test.labels)),
        "seeds": seeds,
        "spread": "min and max over seeds",
        "dense": dense_entry,
    }
    curves: dict[str, dict[int, dict]] = {}
    oneshot_accuracy: dict[tuple[str, int], dict[int, float]] = {}
    for method, ks in oneshot.items():
        curves[method] = {}
        for k in ks:
            entry, accuracy = measure(f"{method}-{k}", {
                s: read_model(pruned_path(pruned, s, method, k), reference=first) for s in seeds
            })
            drop = np.mean([dense_accuracy[s] - accuracy[s] for s in seeds])
            curves[method][k] = rounded({
                "test_accuracy": entry.pop("test_accuracy"), "accuracy_drop": float(drop), **entry
            })
            oneshot_accuracy[method, k] = accuracy
        document[method] = {str(k): entry for k, entry in curves[method].items()}

    finetune_document: dict[str, Any] = {"seeds": seeds, "spread": "min and max over seeds"}
    for schedule, method, k in tuned:
        name = f"{schedule}-{method}-{k}"
        paths = {s: finetuned_path(finetuned, s, schedule, method, k) for s in seeds}
        log = {s: read_log(path.with_suffix(".json")) for s, path in paths.items()}
        entry, accuracy = measure(name, {
            s: read_model(path, reference=first) for s, path in paths.items()
        })
        reference = oneshot_accuracy.get((method, k))
        gain = None if reference is None else float(
            np.mean([accuracy[s] - reference[s] for s in seeds])
        )
        entry = rounded({
            "test_accuracy": entry.pop("test_accuracy"),
            "accuracy_drop": float(np.mean([dense_accuracy[s] - accuracy[s] for s in seeds])),
            "gain_over_oneshot": gain,
            "finetune_seconds": float(np.mean([log[s]["seconds"] for s in seeds])),
            "val_accuracy": float(np.mean([log[s]["val_accuracy"] for s in seeds])),
            **entry,
        })
        finetune_document.setdefault(schedule, {}).setdefault(method, {})[str(k)] = entry
        curves.setdefault(f"{schedule}-{method}", {})[k] = entry
    return document, finetune_document, curves


def read_log(path: Path) -> dict:
    """The finetune stage's log of one model: its seconds and validation accuracy."""
    try:
        log = json.loads(path.read_text())
        return {"seconds": float(log["seconds"]), "val_accuracy": float(log["val_accuracy"])}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise EvaluateError(
            f"cannot read the fine-tuning log {path}: {error!r}; run `dvc repro` to rebuild it"
        ) from None


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
    parser.add_argument("--models", type=Path, required=True, help="folder of seed-<s>/dense.npz")
    parser.add_argument("--pruned", type=Path, required=True, help="the prune stage's folder")
    parser.add_argument("--finetuned", type=Path, required=True,
                        help="the finetune stage's folder")
    parser.add_argument("--metrics", type=Path, required=True, help="output pruning JSON")
    parser.add_argument("--finetune-metrics", type=Path, required=True,
                        help="output fine-tuning JSON")
    parser.add_argument("--curves-dir", type=Path, required=True, help="output folder of CSVs")
    parser.add_argument("--headlines-dir", type=Path,
                        help="output folder of one JSON per curve, {k<k>: mean test accuracy}: "
                             "what `dvc metrics show` prints")
    parser.add_argument("--plots-dir", type=Path,
                        help="output folder of the long-format CSVs for `dvc plots`")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        document, finetune_document, curves = evaluate(
            params, args.data, args.models, args.pruned, args.finetuned
        )
    except (ParamsError, EvaluateError) as error:
        print(f"evaluate: error: {error}", file=sys.stderr)
        return 1
    files = {
        args.metrics: json_bytes(document),
        args.finetune_metrics: json_bytes(finetune_document),
        **{args.curves_dir / f"{stem}.csv": curves_csv(entries).encode()
           for stem, entries in curves.items()},
    }
    if args.headlines_dir:
        files.update({
            args.headlines_dir / f"{stem}.json": json_bytes(row)
            for stem, row in accuracy_headlines(document, finetune_document, params).items()
        })
    if args.plots_dir:
        files.update({args.plots_dir / f"{name}.csv": table.encode()
                      for name, table in plot_tables(params, curves).items()})
    write_files(files)
    print(f"evaluate: wrote {', '.join(str(path) for path in files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
