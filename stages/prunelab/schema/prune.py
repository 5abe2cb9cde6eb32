"""The ``prune`` section: the one-shot magnitude methods and their percentages k."""

from __future__ import annotations

from prunelab.wiring.names import PRUNE_METHODS
from prunelab.wiring.params import Grid, Section, grid_fields

PRUNE = Section("prune", {
    **grid_fields(PRUNE_METHODS),
}, Grid)
