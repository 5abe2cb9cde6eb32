"""The ``reconstruct`` section: the data-aware one-shot methods, their ks and calibration."""

from __future__ import annotations

from dataclasses import dataclass

from prunelab.wiring.names import RECONSTRUCT_METHODS
from prunelab.wiring.params import BOOLEAN, Grid, Section, grid_fields, int_at_least, number_in


@dataclass(frozen=True)
class ReconstructParams(Grid):
    calibration_images: int
    ridge: float
    refit_logits: bool


RECONSTRUCT = Section("reconstruct", {
    **grid_fields(RECONSTRUCT_METHODS),
    "calibration_images": int_at_least(1),
    "ridge": number_in(0, 1, low_open=False, high_open=True),
    "refit_logits": BOOLEAN,
}, ReconstructParams)
