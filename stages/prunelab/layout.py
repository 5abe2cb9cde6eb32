"""Where the stages keep their per-seed models: the folder layout, in one place.

Everything a seed owns lives under its own ``seed-<s>`` folder, and each curve (a method, or a
schedule and method) in a folder of its own, so a stage can declare as its DVC dependency
exactly the models it reads -- adding a seed, or a k to another method, leaves them untouched:

* ``<models>/seed-<s>/dense.npz``: the train stage's kernels;
* ``<pruned>/seed-<s>/<method>/<k>.npz``: one-shot pruned (prune and reconstruct stages);
* ``<finetuned>/seed-<s>/<schedule>-<method>/<k>.npz``, and ``<k>.json`` its log: fine-tuned.

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


def speed_headline_path(headlines: Path, stem: str) -> Path:
    """One benchmark headline file, ``<headlines>/<stem>.json``; ``stem`` is ``<method>-b<batch>``
    as :func:`prunelab.curves.speed_headlines` names it."""
    return headlines / f"{stem}.json"
