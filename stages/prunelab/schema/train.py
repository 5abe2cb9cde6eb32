"""The ``train`` section: the seeds and the dense network's training recipe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prunelab.wiring.params import BOOLEAN, Section, int_at_least, number_in, one_of, unique_list

LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainParams:
    seeds: tuple[int, ...]
    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: str
    weight_decay: float
    dropout: float
    validation_split: float
    flip_augment: bool


def _no_mirrored_digits(raw: dict[str, Any]) -> list[str]:
    if raw["data"]["dataset"] == "mnist" and raw["train"]["flip_augment"]:
        return ["'train.flip_augment' is true with data.dataset 'mnist': mirrored digits are not "
                "digits; set train.flip_augment: false"]
    return []


TRAIN = Section("train", {
    "seeds": unique_list(int_at_least(0), "seeds"),
    "epochs": int_at_least(1),
    "batch_size": int_at_least(1),
    "learning_rate": number_in(0, 1, low_open=True, high_open=False),
    "lr_schedule": one_of(LR_SCHEDULES),
    "weight_decay": number_in(0, 1, low_open=False, high_open=True),
    "dropout": number_in(0, 1, low_open=False, high_open=True),
    "validation_split": number_in(0, 1, low_open=True, high_open=True),
    "flip_augment": BOOLEAN,
}, TrainParams, (_no_mirrored_digits,))
