"""tools/dense_cost_model.py: the fit and the rule's excess on made-up timings (no test times
anything; the committed table is a measurement of one machine)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import dense_cost_model  # noqa: E402


def synthetic_rows() -> np.ndarray:
    """Timings that follow the model exactly: 0.05 ns per multiply-add, 1.5 ns per row added,
    0.6 ns per input scanned, nothing per output of the dot products."""
    rows = []
    for n_in, n_out, nz_share in itertools.product((50, 784), (10, 100, 500), (1.0, 0.3, 0.05)):
        nz = n_in * nz_share
        rows.append((n_in, n_out, nz, 0.05 * nz * n_out + 1.5 * nz + 0.6 * n_in,
                     0.05 * n_in * n_out))
    return np.asarray(rows)


def test_fit_recovers_the_costs_of_exact_timings():
    costs = dense_cost_model.fit(synthetic_rows())
    assert costs == pytest.approx({"add_mac_ns": 0.05, "add_row_ns": 1.5, "scan_input_ns": 0.6,
                                   "dot_mac_ns": 0.05, "dot_output_ns": 0.0}, rel=1e-6, abs=1e-9)


def test_rule_excess_is_zero_for_the_rule_that_always_picks_the_faster_form():
    rows = synthetic_rows()
    # In multiply-adds: a row costs 30 more than its width, a scanned input 12.
    assert dense_cost_model.rule_excess(rows, 30, 12) == pytest.approx(0.0)
    # Never adding rows (an impossible slack) is slower on the sparse points.
    assert dense_cost_model.rule_excess(rows, 30, 10**6) > 0.1
    text = dense_cost_model.report(rows, dense_cost_model.fit(rows))
    assert "costs 30 more than its width" in text and "an input scanned 12" in text
