"""The ``sensitivity`` section: one hidden matrix pruned at a time, by these methods and ks."""

from __future__ import annotations

from prunelab.wiring.names import SENSITIVITY_METHODS
from prunelab.wiring.params import PERCENTAGES, Grid, Section, one_of, unique_list

SENSITIVITY = Section("sensitivity", {
    "methods": unique_list(one_of(SENSITIVITY_METHODS), "pruning methods"),
    "ks": PERCENTAGES,
}, Grid)
