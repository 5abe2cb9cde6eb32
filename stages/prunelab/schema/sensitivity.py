"""The ``sensitivity`` section: one hidden matrix pruned at a time, by these methods and ks."""

from __future__ import annotations

from prunelab.wiring.names import SENSITIVITY_METHODS
from prunelab.wiring.params import Grid, Section, grid_fields

SENSITIVITY = Section("sensitivity", {
    **grid_fields(SENSITIVITY_METHODS),
}, Grid)
