"""The ``data`` section: which data set, where its files are, and how much of it to use."""

from __future__ import annotations

from dataclasses import dataclass

from prunelab.wiring.params import Field, Section, int_at_least, one_of

DATASETS = ("fashion-mnist", "mnist")


@dataclass(frozen=True)
class DataParams:
    dataset: str
    local_dir: str
    train_images: int
    test_images: int


DATA = Section("data", {
    "dataset": one_of(DATASETS),
    "local_dir": Field(lambda v: isinstance(v, str), 'a folder path as a string ("" to skip)'),
    "train_images": int_at_least(0),
    "test_images": int_at_least(0),
}, DataParams)
