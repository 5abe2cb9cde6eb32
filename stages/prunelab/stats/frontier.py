"""The accuracy-latency frontier: which network is fastest at the accuracy a user can accept.

Pure: it joins what the evaluate stage measured (each curve's mean test accuracy over the seeds
and its min-max band, per k) with what the benchmark stage timed (the first seed's networks on
test images, per batch size) into :class:`Point` records, marks the Pareto-optimal ones, and
answers "the fastest network within ``d`` points of the dense accuracy".

Speed is the speedup of the network's fastest route over the fastest dense route on the same
inputs, paired by round (:mod:`prunelab.speed.scoring`), with its spread, and latency that
route's median. The dense network is a point too (speedup 1 by definition).

Noise must not pick the answer: two speedups *tie* when their spreads overlap or they differ by
less than :data:`TIE_RELATIVE`, and among the fastest network's ties the answer is the smallest
network (fewest non-zero weights; then the more accurate), its ties named beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The benchmark's input kind the frontier is drawn on: what a deployed network meets.
INPUT = "images"
#: Accuracy drops (in percentage points below the dense accuracy) the answer table covers.
TOLERANCES_PT = (0.5, 1.0, 2.0, 5.0)
DENSE = "dense"
#: Speedups closer than this (relative) tie even when their spreads do not overlap: run-to-run
#: drift of a whole benchmark (cache and clock state, which the within-run spread cannot see).
TIE_RELATIVE = 0.10


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
    speedup_p10: float  # its spread (prunelab.speed.scoring.speedup_spread)
    speedup_p90: float
    nonzero_weights: int  # after removing dead units: what "smaller network" means


@dataclass(frozen=True)
class Answer:
    """The network that answers one accuracy tolerance, and the networks it ties with."""

    point: Point
    ties: tuple[Point, ...]


def ties(a: Point, b: Point) -> bool:
    """Whether the benchmark cannot rank ``a`` and ``b``: overlapping spreads, or speedups
    within :data:`TIE_RELATIVE` of each other."""
    overlap = a.speedup_p10 <= b.speedup_p90 and b.speedup_p10 <= a.speedup_p90
    return overlap or abs(a.speedup - b.speedup) < TIE_RELATIVE * max(a.speedup, b.speedup)


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
                    dense["test_accuracy_max"], fastest["route"], fastest["latency_ms"], 1.0,
                    1.0, 1.0, benchmark["dense"]["nonzero_weights"])]
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
                                best["speedup_vs_fastest_dense"], best["speedup_p10"],
                                best["speedup_p90"],
                                benchmark[curve][str(k)]["model"]["nonzero_weights"]))
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


def fastest_within(points: list[Point], dense_accuracy: float, drop_pt: float) -> Answer:
    """The answer among the points whose mean accuracy is at least ``dense_accuracy - drop_pt
    / 100`` (the dense network always qualifies): of the fastest one (highest speedup, then the
    more accurate) and every qualifying point that :func:`ties` with it, the smallest network
    (fewest non-zero weights, then the more accurate, then the faster); the others are its
    ties, smallest first."""
    floor = dense_accuracy - drop_pt / 100
    # Rounded like the reported accuracies, so that "within 1 point" is decided on the figures
    # a reader sees, not on float noise in the 7th decimal.
    qualifying = [p for p in points if round(p.accuracy, 6) >= round(floor, 6)]
    fastest = max(qualifying, key=lambda p: (p.speedup, p.accuracy))
    tied = sorted((p for p in qualifying if p == fastest or ties(p, fastest)),
                  key=lambda p: (p.nonzero_weights, -p.accuracy, -p.speedup))
    return Answer(tied[0], tuple(tied[1:]))


def answer_rows(points: list[Point], dense_accuracy: float) -> dict[float, Answer]:
    """``{drop in points: the answer within it}`` for :data:`TOLERANCES_PT`."""
    return {drop: fastest_within(points, dense_accuracy, drop) for drop in TOLERANCES_PT}


def headline_key(drop_pt: float) -> str:
    """The column of an accuracy drop in ``dvc metrics show``: ``≤0.5pt``, ``≤1pt``, ...
    (DVC sorts the columns by name: these come after the ``k<k>`` ones)."""
    return f"≤{drop_pt:g}pt"
