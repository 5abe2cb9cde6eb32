"""The ``prune`` section: the one-shot magnitude methods and their percentages k."""

from __future__ import annotations

from prunelab.wiring.names import PRUNE_METHODS
from prunelab.wiring.params import PERCENTAGES, Grid, Section, one_of, unique_list

PRUNE = Section("prune", {
    "methods": unique_list(one_of(PRUNE_METHODS), "pruning methods"),
    "ks": PERCENTAGES,
}, Grid)
