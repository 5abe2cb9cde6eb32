"""Where the stages keep one model per training seed: the folder layout, in one place.

The train stage's outputs are named in ``dvc.yaml`` (``data/models/seed-<s>/dense.npz``);
every later stage finds models through these functions.
"""

from __future__ import annotations

from pathlib import Path


def dense_path(models: Path, seed: int) -> Path:
    """The dense kernels of ``seed``: ``<models>/seed-<s>/dense.npz``."""
    return models / f"seed-{seed}" / "dense.npz"


def seed_path(folder: Path, seed: int) -> Path:
    """One seed's model in a per-item folder (``<folder>/seed-<s>.npz``), e.g. a
    ``prune@<method>-<k>`` or ``finetune@<method>-<k>`` output."""
    return folder / f"seed-{seed}.npz"
