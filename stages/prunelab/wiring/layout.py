"""Where the stages keep their per-seed models: the folder layout, in one place.

Everything a seed owns lives under its own ``seed-<s>`` folder, and each curve (a method, or a
schedule and method) in a folder of its own, so a stage can declare as its DVC dependency
exactly the models it reads -- adding a seed, or a k to another method, leaves them untouched:

* ``<models>/seed-<s>/dense.npz``: the train stage's kernels;
* ``<pruned>/seed-<s>/<method>/<k>.npz``: one-shot pruned (prune and reconstruct stages);
* ``<finetuned>/seed-<s>/<schedule>-<method>/<k>.npz``, and ``<k>.json`` its log: fine-tuned;
* ``<train_logs>/seed-<s>/plots/metrics/{train,eval}/<quantity>.tsv``: dvclive's per-epoch log
  of the train stage.

The reports go into folders named on the command line, a file per curve, row or table:
``<curves>/<stem>.csv`` (:func:`curve_stem`), ``<headlines>/<row>.json``, ``<plots>/<name>.csv``.

``dvc.yaml`` spells out the same paths in the stages' ``cmd``, ``deps`` and ``outs``.
"""

from __future__ import annotations

from pathlib import Path


def dense_path(models: Path, seed: int) -> Path:
    """The dense kernels of ``seed``: ``<models>/seed-<s>/dense.npz``."""
    return models / f"seed-{seed}" / "dense.npz"


def pruned_path(pruned: Path, seed: int, method: str, k: int) -> Path:
    """A one-shot pruned model: ``<pruned>/seed-<s>/<method>/<k>.npz``."""
    return pruned / f"seed-{seed}" / method / f"{k}.npz"


def finetuned_path(finetuned: Path, seed: int, schedule: str, method: str, k: int) -> Path:
    """A fine-tuned model, ``<finetuned>/seed-<s>/<schedule>-<method>/<k>.npz``; its log is the
    same path with the suffix ``.json``."""
    return finetuned / f"seed-{seed}" / f"{schedule}-{method}" / f"{k}.npz"


def compact_model_path(compact: Path, k: int) -> Path:
    """A unit-pruned model exported as a smaller Keras model: ``<compact>/unit-<k>.keras``."""
    return compact / f"unit-{k}.keras"


def train_log_path(train_logs: Path, seed: int, folder: str, quantity: str) -> Path:
    """dvclive's per-epoch log of one quantity of the train stage, for ``folder`` ``train`` or
    ``eval``: ``<train_logs>/seed-<s>/plots/metrics/<folder>/<quantity>.tsv``."""
    return train_logs / f"seed-{seed}" / "plots" / "metrics" / folder / f"{quantity}.tsv"


def curve_stem(schedule: str | None, method: str) -> str:
    """The file stem of a curve's report: ``<method>`` for one-shot pruning (no ``schedule``),
    ``<schedule>-<method>`` for a fine-tuned curve, as the folder of its models."""
    return method if schedule is None else f"{schedule}-{method}"


def curve_csv_path(curves_dir: Path, schedule: str | None, method: str) -> Path:
    """A curve's CSV, one row per k: ``<curves_dir>/<stem>.csv`` (:func:`curve_stem`)."""
    return curves_dir / f"{curve_stem(schedule, method)}.csv"


def headline_path(headlines_dir: Path, name: str) -> Path:
    """A headline file, one row of ``dvc metrics show``: ``<headlines_dir>/<name>.json``."""
    return headlines_dir / f"{name}.json"


def plot_table_path(plots_dir: Path, name: str) -> Path:
    """A long-format table for ``dvc plots``: ``<plots_dir>/<name>.csv``."""
    return plots_dir / f"{name}.csv"
