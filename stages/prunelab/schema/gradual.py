"""The ``gradual`` section: Zhu & Gupta's gradual pruning during retraining."""

from __future__ import annotations

from dataclasses import dataclass

from prunelab.wiring.names import PRUNE_METHODS
from prunelab.wiring.params import Grid, Section, grid_fields, int_at_least, number_in


@dataclass(frozen=True)
class GradualParams(Grid):
    ramp: float
    updates: int


GRADUAL = Section("gradual", {
    **grid_fields(PRUNE_METHODS),
    "ramp": number_in(0, 1, low_open=True, high_open=False),
    "updates": int_at_least(1),
}, GradualParams)
