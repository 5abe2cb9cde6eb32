"""tools/run_to_run.py on two made-up benchmark documents (no test times anything)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import run_to_run  # noqa: E402


def document(paired: float, pooled: float) -> dict:
    """A run with one network timed at batch 1 on test images (route numba)."""
    figures = {"speedup_vs_fastest_dense": paired, "speedup_vs_pooled_dense": pooled}
    cell = {"best": {"route": "numba"}, "numba": figures}
    return {"meta": {"cpu": "test CPU"}, "dense": {},
            "unit": {"90": {"model": {}, "images": {"1": cell}}}}


def test_changes_compare_the_same_route_under_each_reference():
    moved = run_to_run.changes(document(8.0, 10.0), document(10.0, 10.5))
    assert moved[("1", "speedup_vs_fastest_dense")] == [pytest.approx(math.log(10 / 8))]
    assert moved[("1", "speedup_vs_pooled_dense")] == [pytest.approx(math.log(10.5 / 10))]


def test_table_counts_the_cells_that_moved_more_than_the_margin():
    text = run_to_run.table(document(8.0, 10.0), document(10.0, 10.5))
    assert "| 1 | paired by round (the frontier's) | 1 | 22.3 % | 22.3 % | 22 % | 1 |" in text
    assert "| 1 | pooled over the run (the check) | 1 | 4.9 % | 4.9 % | 5 % | 0 |" in text


def test_a_cell_missing_from_the_first_run_is_left_out():
    first = document(8.0, 10.0)
    del first["unit"]
    assert run_to_run.changes(first, document(10.0, 10.5)) == {}
