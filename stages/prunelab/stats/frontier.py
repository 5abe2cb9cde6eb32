"""The accuracy-latency frontier: which network is fastest at the accuracy a user can accept.

Pure: it joins what the evaluate stage measured (each curve's mean test accuracy over the seeds
and its min-max band, per k) with what the benchmark stage timed (the first seed's networks on
test images, per batch size) into :class:`Point` records, marks the Pareto-optimal ones, and
answers "the fastest network within ``d`` points of the dense accuracy".

Speed is the speedup of the network's fastest route over the fastest dense route *of the same
cell* (same inputs, same interleaved rounds; :mod:`prunelab.speed.benchmarking`), and latency
that route's median: speedups are what the frontier ranks by, because latencies measured minutes
apart drift more than ratios measured in the same rounds. The dense network is a point too, with
the fastest dense route of the dense phase (speedup 1 by definition).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The benchmark's input kind the frontier is drawn on: what a deployed network meets.
INPUT = "images"
#: Accuracy drops (in percentage points below the dense accuracy) the answer table covers.
TOLERANCES_PT = (0.5, 1.0, 2.0, 5.0)
DENSE = "dense"


@dataclass(frozen=True)
class Point:
    """One network at one batch size: accuracy over the seeds, speed of its fastest route."""

    curve: str  # a curve name (weight, unit_refit, weight+ft, ...) or "dense"
    k: int
    accuracy: float  # mean test accuracy over the seeds
    accuracy_min: float
    accuracy_max: float
    route: str
    latency_ms: float
    speedup: float  # over the fastest dense route on the same inputs, in the same run


def frontier_points(accuracy: dict[str, dict[int, dict[str, float]]], dense: dict[str, float],
                    benchmark: dict[str, Any], timed: dict[str, list[int]], batch: int
                    ) -> list[Point]:
    """Every timed network at ``batch``, after the dense network.

    ``accuracy``: ``{curve: {k: {"test_accuracy", "test_accuracy_min", "test_accuracy_max"}}}``;
    ``dense``: the same three figures of the dense network; ``benchmark``: the benchmark
    stage's JSON; ``timed``: ``{curve: ks}`` of the networks it timed. Raises KeyError when a
    network lacks a figure (a stale report).
    """
    fastest = benchmark["dense"][INPUT][str(batch)]["fastest"]
    points = [Point(DENSE, 0, dense["test_accuracy"], dense["test_accuracy_min"],
                    dense["test_accuracy_max"], fastest["route"], fastest["latency_ms"], 1.0)]
    for curve, ks in timed.items():
        for k in ks:
            cell = benchmark[curve][str(k)][INPUT][str(batch)]
            best = cell["best"]
            if best["route"] is None:  # no route ran: nothing to place
                continue
            figures = accuracy[curve][k]
            points.append(Point(curve, k, figures["test_accuracy"], figures["test_accuracy_min"],
                                figures["test_accuracy_max"], best["route"],
                                cell[best["route"]]["latency_ms"],
                                best["speedup_vs_fastest_dense"]))
    return points


def pareto_optimal(points: list[Point]) -> list[bool]:
    """Per point, whether no other point is at least as fast and at least as accurate, and
    strictly better in one of the two (ties in both keep every tied point)."""
    return [
        not any(other.speedup >= point.speedup and other.accuracy >= point.accuracy
                and (other.speedup > point.speedup or other.accuracy > point.accuracy)
                for other in points)
        for point in points
    ]


def fastest_within(points: list[Point], dense_accuracy: float, drop_pt: float) -> Point:
    """The fastest point (highest speedup; then the more accurate) whose mean accuracy is at
    least ``dense_accuracy - drop_pt / 100``. The dense network itself always qualifies."""
    floor = dense_accuracy - drop_pt / 100
    # Rounded like the reported accuracies, so that "within 1 point" is decided on the figures
    # a reader sees, not on float noise in the 7th decimal.
    qualifying = [p for p in points if round(p.accuracy, 6) >= round(floor, 6)]
    return max(qualifying, key=lambda p: (p.speedup, p.accuracy))


def answer_rows(points: list[Point], dense_accuracy: float) -> dict[float, Point]:
    """``{drop in points: fastest network within it}`` for :data:`TOLERANCES_PT`."""
    return {drop: fastest_within(points, dense_accuracy, drop) for drop in TOLERANCES_PT}


def headline_key(drop_pt: float) -> str:
    """The column of an accuracy drop in ``dvc metrics show``: ``≤0.5pt``, ``≤1pt``, ...
    (DVC sorts the columns by name: these come after the ``k<k>`` ones)."""
    return f"≤{drop_pt:g}pt"
