"""Synthetic data for the tests that train: IDX files whose class is planted in the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prunelab.data.idx import encode_idx


def write_striped_idx(folder: Path, counts: dict[str, int]) -> Path:
    """Per split prefix (``train``, ``t10k``) and image count, IDX files in ``folder``: dim noise
    (0-59) with a bright band on rows ``2 * label`` to ``2 * label + 2``, so even one short
    epoch learns something. Seeded: the same counts give the same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, count in counts.items():
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
        for index, label in enumerate(labels):
            images[index, label * 2 : label * 2 + 3, :] = 255
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(encode_idx(images))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(encode_idx(labels))
    return folder
