"""The datasets the lab knows: file names, SHA-256 of the decompressed IDX files, sources.

Checksums are of the *decompressed* bytes, because Debian recompresses the Fashion-MNIST
archives (their ``.gz`` bytes differ from upstream while the content is identical).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prunelab.data.idx import read_idx_file
from prunelab.wiring.errors import IdxError, StageError

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILE_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
#: Both datasets: 28×28 grey images, flattened into the network's inputs, in 10 classes.
PIXELS = 28 * 28
CLASSES = 10


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    sha256: dict[str, str]  # decompressed file name -> hex digest of its bytes
    system_dirs: tuple[str, ...]  # folders a system package installs the .gz files into
    urls: tuple[str, ...]  # base URLs of the canonical .gz files, tried in order
    install_hint: str


DATASETS: dict[str, DatasetSpec] = {
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        sha256={
            TRAIN_IMAGES: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            TRAIN_LABELS: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            TEST_IMAGES: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            TEST_LABELS: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        install_hint="install Debian's package (sudo apt-get install dataset-fashion-mnist)",
    ),
    # Digests as published for the canonical MNIST files; no copy of MNIST can be fetched on the
    # project's machines, so they are not re-measured here.
    "mnist": DatasetSpec(
        name="mnist",
        sha256={
            TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        system_dirs=(),
        urls=(
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
        ),
        install_hint="download the four MNIST .gz files on a connected machine",
    ),
}


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (count, PIXELS) float32 in [0, 1]
    labels: np.ndarray  # (count,) int64


def _load_split(folder: Path, images: str, labels: str, limit: int) -> Split:
    x = read_idx_file(folder / images)
    y = read_idx_file(folder / labels)
    if len(x) != len(y):
        raise ValueError(f"{folder}: {len(x)} images but {len(y)} labels")
    if limit:
        x, y = x[:limit], y[:limit]
    return Split(x.reshape(len(x), -1).astype(np.float32) / 255.0, y.astype(np.int64))


def load_dataset(folder: Path, train_limit: int = 0, test_limit: int = 0) -> tuple[Split, Split]:
    """Load the train and test splits from the IDX files in ``folder``.

    A limit of 0 keeps every example; otherwise the first ``limit`` examples are kept.
    """
    return (
        _load_split(folder, TRAIN_IMAGES, TRAIN_LABELS, train_limit),
        _load_split(folder, TEST_IMAGES, TEST_LABELS, test_limit),
    )


def load_test_split(folder: Path, test_limit: int = 0) -> Split:
    """Load only the test split from ``folder`` (the training files are not read).

    Exactly the test split of :func:`load_dataset` with the same ``test_limit``.
    """
    return _load_split(folder, TEST_IMAGES, TEST_LABELS, test_limit)


def load_train_split(folder: Path, train_limit: int = 0) -> Split:
    """Load only the training split from ``folder`` (the test files are not read)."""
    return _load_split(folder, TRAIN_IMAGES, TRAIN_LABELS, train_limit)


def load_test(data: Path, count: int) -> Split:
    """The first ``count`` test examples in ``data`` (0 = all), or a :class:`StageError` that
    names the stage to run."""
    try:
        test = load_test_split(data, count)
    except (OSError, IdxError, ValueError) as error:
        raise StageError(
            f"cannot read the test split from {data}: {error} (run `dvc repro fetch_data`)"
        ) from None
    if len(test.labels) == 0:
        raise StageError(f"{data} holds no test examples")
    return test
