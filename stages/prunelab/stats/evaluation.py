"""The evaluate stage's work: every model the params list, measured on the test split.

The models are exactly those the params file asks for (folders are never listed: DVC leaves
files of removed items behind), for every seed ``s`` of ``train.seeds``, at the paths of
:mod:`prunelab.wiring.layout`:

* dense: ``{models}/seed-<s>/dense.npz``;
* one-shot pruned, ``prune.methods`` x ``prune.ks`` and ``reconstruct.methods`` x
  ``reconstruct.ks``: ``{pruned}/seed-<s>/<method>/<k>.npz``;
* fine-tuned, ``finetune.methods`` x ``finetune.ks`` and ``gradual.methods`` x ``gradual.ks``:
  ``{finetuned}/seed-<s>/<schedule>-<method>/<k>.npz`` with the stage's log ``<k>.json``.

Each network's figures are :func:`prunelab.stats.measure.model_entry`'s, combined over seeds by
:func:`prunelab.stats.measure.over_seeds`. A curve is keyed ``(schedule, method)``, with schedule
``None`` for one-shot pruning, and holds ``{k: entry}``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from prunelab.data.datasets import Split, load_test
from prunelab.model.weights import load_kernels
from prunelab.stats.curves import finetuned_curves, oneshot_curves
from prunelab.stats.measure import SPREAD_NOTE, model_entry, over_seeds, rounded
from prunelab.stats.sparsity import magnitude_stats
from prunelab.wiring.errors import StageError
from prunelab.wiring.layout import dense_path, finetuned_path, pruned_path
from prunelab.wiring.names import curve_name
from prunelab.wiring.params import Params

Curve = tuple[str | None, str]  # (schedule or None for one-shot, method)
Curves = dict[Curve, dict[int, dict]]

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
PLOT_COLUMNS = ("curve", "method", "schedule", "k", "sparsity", "test_accuracy",
                "test_accuracy_min", "test_accuracy_max", "test_loss", "test_loss_min",
                "test_loss_max")


def load_dense(models: Path, seeds: tuple[int, ...], data: Path, test: Split
               ) -> dict[int, list[np.ndarray]]:
    """Each seed's dense kernels, after checking that they take the test images of ``data``."""
    dense = {seed: load_kernels(dense_path(models, seed)) for seed in seeds}
    inputs, pixels = dense[seeds[0]][0].shape[0], test.images.shape[1]
    if inputs != pixels:
        raise StageError(
            f"{dense_path(models, seeds[0])} takes {inputs} inputs but the images "
            f"of {data} have {pixels} pixels"
        )
    return dense


def read_model(path: Path, reference: list[np.ndarray]) -> list[np.ndarray]:
    """The kernels at ``path``, after checking they have the shapes of ``reference``."""
    kernels = load_kernels(path)
    shapes = [k.shape for k in kernels]
    expected = [k.shape for k in reference]
    if shapes != expected:
        raise StageError(
            f"{path} has kernel shapes {shapes}, the dense model {expected}: a stale file? "
            "Run `dvc repro` to rebuild the pruned models"
        )
    return kernels


def read_log(path: Path) -> dict:
    """The finetune stage's log of one model: its seconds and validation accuracy."""
    try:
        log = json.loads(path.read_text())
        return {"seconds": float(log["seconds"]), "val_accuracy": float(log["val_accuracy"])}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StageError(
            f"cannot read the fine-tuning log {path}: {error!r}; run `dvc repro` to rebuild it"
        ) from None


def check_models_exist(params: Params, models: Path, pruned: Path, finetuned: Path) -> None:
    """Raise a :class:`StageError` naming the first few model files params ask for that are
    missing, before any work."""
    seeds = params.train.seeds
    wanted = [dense_path(models, s) for s in seeds]
    wanted += [pruned_path(pruned, s, method, k)
               for method, ks in oneshot_curves(params).items() for k in ks for s in seeds]
    wanted += [finetuned_path(finetuned, s, schedule, method, k)
               for (schedule, method), ks in finetuned_curves(params).items()
               for k in ks for s in seeds]
    missing = [str(path) for path in wanted if not path.is_file()]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        shown = ", ".join(missing[:5]) + more
        raise StageError(
            f"missing model file(s): {shown}. They are made by the train, prune, reconstruct "
            "and finetune stages for everything params.yaml lists: run `dvc repro` first"
        )


def measure(name: str, kernels_by_seed: dict[int, list[np.ndarray]], test: Split
            ) -> tuple[dict, dict[int, float]]:
    """The entry over seeds of one model and its accuracy per seed; prints a summary line."""
    per_seed = {seed: model_entry(kernels, test.images, test.labels)
                for seed, kernels in kernels_by_seed.items()}
    entry = over_seeds(per_seed)
    print(
        f"evaluate: {name:>10}  accuracy {entry['test_accuracy']:.4f}  "
        f"loss {entry['test_loss']:.4f}  sparsity {entry['sparsity']:.4f}  "
        f"effective {entry['effective_sparsity']:.4f}  alive "
        f"{list(entry['alive_units'].values())}",
        flush=True,
    )
    return entry, {seed: e["test_accuracy"] for seed, e in per_seed.items()}


def evaluate(params: Params, data: Path, models: Path, pruned: Path, finetuned: Path
             ) -> tuple[dict, dict, Curves]:
    """The pruning and fine-tuning metrics documents, and every curve.

    The pruning document is ``{"test_examples", "seeds", "spread", "dense": {...},
    "<method>": {"<k>": {...}}}``: pruned models also have ``accuracy_drop`` (dense minus
    pruned, mean over seeds) and ``dense`` has ``magnitudes`` of the first seed's kernels
    (:func:`prunelab.stats.sparsity.magnitude_stats`, which the plot stage draws). The fine-tuning
    document is ``{"seeds", "spread", "<schedule>": {"<method>": {"<k>": {...}}}}``.
    """
    seeds = params.train.seeds
    check_models_exist(params, models, pruned, finetuned)
    test = load_test(data, params.data.test_images)
    dense = load_dense(models, seeds, data, test)
    first = dense[seeds[0]]
    dense_entry, dense_accuracy = measure("dense", dense, test)
    dense_entry["magnitudes"] = rounded(
        {f"kernel_{i}": magnitude_stats(kernel) for i, kernel in enumerate(first)}
    )
    document: dict[str, Any] = {
        "test_examples": int(len(test.labels)),
        "seeds": list(seeds),
        "spread": SPREAD_NOTE,
        "dense": dense_entry,
    }
    curves: Curves = {}
    oneshot_accuracy: dict[tuple[str, int], dict[int, float]] = {}
    for method, ks in oneshot_curves(params).items():
        curve = curves[None, method] = {}
        for k in ks:
            entry, accuracy = measure(f"{method}-{k}", {
                s: read_model(pruned_path(pruned, s, method, k), first) for s in seeds
            }, test)
            drop = np.mean([dense_accuracy[s] - accuracy[s] for s in seeds])
            curve[k] = rounded({
                "test_accuracy": entry.pop("test_accuracy"), "accuracy_drop": float(drop), **entry
            })
            oneshot_accuracy[method, k] = accuracy
        document[method] = {str(k): entry for k, entry in curve.items()}
    finetune_document: dict[str, Any] = {"seeds": list(seeds), "spread": SPREAD_NOTE}
    for (schedule, method), ks in finetuned_curves(params).items():
        for k in ks:
            entry = finetuned_entry(schedule, method, k, finetuned, first, test, dense_accuracy,
                                    oneshot_accuracy.get((method, k)))
            finetune_document.setdefault(schedule, {}).setdefault(method, {})[str(k)] = entry
            curves.setdefault((schedule, method), {})[k] = entry
    return document, finetune_document, curves


def finetuned_entry(schedule: str, method: str, k: int, finetuned: Path,
                    reference: list[np.ndarray], test: Split, dense_accuracy: dict[int, float],
                    oneshot_accuracy: dict[int, float] | None) -> dict:
    """One fine-tuned model's entry over seeds, with ``gain_over_oneshot`` (``None`` without a
    one-shot model of the same method and k), ``finetune_seconds`` and ``val_accuracy``."""
    seeds = list(dense_accuracy)
    paths = {s: finetuned_path(finetuned, s, schedule, method, k) for s in seeds}
    log = {s: read_log(path.with_suffix(".json")) for s, path in paths.items()}
    entry, accuracy = measure(f"{schedule}-{method}-{k}", {
        s: read_model(path, reference) for s, path in paths.items()
    }, test)
    gain = None if oneshot_accuracy is None else float(
        np.mean([accuracy[s] - oneshot_accuracy[s] for s in seeds])
    )
    return rounded({
        "test_accuracy": entry.pop("test_accuracy"),
        "accuracy_drop": float(np.mean([dense_accuracy[s] - accuracy[s] for s in seeds])),
        "gain_over_oneshot": gain,
        "finetune_seconds": float(np.mean([log[s]["seconds"] for s in seeds])),
        "val_accuracy": float(np.mean([log[s]["val_accuracy"] for s in seeds])),
        **entry,
    })


def _csv(header: tuple[str, ...], rows: list[list]) -> str:
    """CSV text, ``None`` written as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if value is None else value for value in row] for row in rows])
    return buffer.getvalue()


def curves_csv(entries: dict[int, dict]) -> str:
    """One curve's CSV: a header of :data:`CURVE_COLUMNS`, then one row per k, ascending."""
    rows = [{"k": k, **entries[k]} for k in sorted(entries)]
    return _csv(CURVE_COLUMNS, [[row[column] for column in CURVE_COLUMNS] for row in rows])


def plot_tables(params: Params, curves: Curves) -> dict[str, str]:
    """Long-format CSVs for ``dvc plots`` (a row per curve and k; the custom templates of
    ``.dvc/plots`` give each ``curve`` its colour and draw the min-max band):

    * ``oneshot``: every one-shot curve;
    * ``finetuned``: per fine-tuned method (``method`` is the panel), its one-shot curve and
      every retrained curve.
    """
    def rows(schedule: str | None, method: str) -> list[list]:
        entries = curves[schedule, method]
        return [[curve_name(schedule, method), method, schedule or "none", k,
                 *[entries[k].get(c) for c in PLOT_COLUMNS[4:]]] for k in sorted(entries)]

    tuned = finetuned_curves(params)
    tables = {
        "oneshot": [row for method in oneshot_curves(params) for row in rows(None, method)],
        "finetuned": [
            row
            for method in dict.fromkeys(m for _, m in tuned)
            for schedule in [None] + [s for s, m in tuned if m == method]
            if schedule is not None or (None, method) in curves
            for row in rows(schedule, method)
        ],
    }
    return {name: _csv(PLOT_COLUMNS, table) for name, table in tables.items()}
