"""The ``reconstruct`` section: the data-aware one-shot methods, their ks and calibration."""

from __future__ import annotations

from dataclasses import dataclass

from prunelab.wiring.names import RECONSTRUCT_METHODS
from prunelab.wiring.params import (
    BOOLEAN,
    PERCENTAGES,
    Grid,
    Section,
    int_at_least,
    number_in,
    one_of,
    unique_list,
)


@dataclass(frozen=True)
class ReconstructParams(Grid):
    calibration_images: int
    ridge: float
    refit_logits: bool


RECONSTRUCT = Section("reconstruct", {
    "methods": unique_list(one_of(RECONSTRUCT_METHODS), "pruning methods"),
    "ks": PERCENTAGES,
    "calibration_images": int_at_least(1),
    "ridge": number_in(0, 1, low_open=False, high_open=True),
    "refit_logits": BOOLEAN,
}, ReconstructParams)
