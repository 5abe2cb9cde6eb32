"""The accuracy-latency frontier on known numbers: Pareto marks, the answer table, the stage."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from stage_runner import StageRun, run_stage

from prunelab.figures.frontier import frontier_csv, frontier_table
from prunelab.stats.frontier import (
    Answer,
    Point,
    answer_rows,
    fastest_within,
    frontier_points,
    headline_key,
    pareto_optimal,
)

REPO = Path(__file__).resolve().parents[1]


def point(curve: str, k: int, accuracy: float, speedup: float, *, spread: float = 0.01,
          weights: int | None = None) -> Point:
    """A network whose speedup's spread is +-``spread`` (relative) and whose size is, unless
    given, 1,000,000 weights over its speedup."""
    return Point(curve, k, accuracy, accuracy - 0.001, accuracy + 0.001, "numba",
                 0.1 / speedup, speedup, speedup * (1 - spread), speedup * (1 + spread),
                 weights if weights is not None else round(1e6 / speedup))


DENSE = point("dense", 0, 0.90, 1.0)
POINTS = [
    DENSE,
    point("weight", 90, 0.895, 2.0),     # on the front: faster than dense, 0.5 points lower
    point("unit", 50, 0.894, 1.5),       # dominated by weight 90 (slower and less accurate)
    point("unit", 80, 0.889, 8.0),       # on the front; 1.1 points lower
    point("unit_refit", 80, 0.891, 6.0),  # on the front; within 1 point
    point("unit", 99, 0.10, 30.0),       # fastest of all: on the front, within no tolerance
]


def test_pareto_front_keeps_exactly_the_undominated_points():
    assert pareto_optimal(POINTS) == [True, True, False, True, True, True]


def test_equal_points_both_stay_on_the_front():
    assert pareto_optimal([point("a", 1, 0.9, 2.0), point("b", 1, 0.9, 2.0)]) == [True, True]


def test_fastest_within_each_tolerance():
    answers = answer_rows(POINTS, DENSE.accuracy)
    assert [(a.point.curve, a.point.k) for a in answers.values()] == [
        ("weight", 90), ("unit_refit", 80), ("unit", 80), ("unit", 80)]
    assert all(a.ties == () for a in answers.values())  # 2, 6 and 8x: apart by > 10 %
    assert list(answers) == [0.5, 1.0, 2.0, 5.0]


def test_speedups_within_ten_percent_tie_and_the_smaller_network_answers():
    fast = point("unit", 80, 0.895, 8.0, weights=500_000)
    close = point("unit_refit", 80, 0.896, 7.4, weights=400_000)  # 7.5 % slower: a tie
    apart = point("weight", 95, 0.897, 6.0, weights=100_000)  # 25 % slower, spreads apart
    answer = fastest_within([DENSE, fast, close, apart], 0.90, 1.0)
    assert answer == Answer(close, (fast,))


def test_overlapping_spreads_tie_beyond_ten_percent():
    fast = point("unit", 80, 0.895, 8.0, spread=0.1, weights=500_000)  # 7.2-8.8
    slower = point("weight", 95, 0.895, 6.6, spread=0.1, weights=100_000)  # 5.9-7.3
    assert fastest_within([DENSE, fast, slower], 0.90, 1.0) == Answer(slower, (fast,))
    narrow = point("weight", 95, 0.895, 6.6, spread=0.01, weights=100_000)  # 6.5-6.7
    assert fastest_within([DENSE, fast, narrow], 0.90, 1.0) == Answer(fast, ())


def test_a_network_outside_the_tolerance_never_ties():
    fast = point("unit", 80, 0.895, 8.0, weights=500_000)
    outside = point("unit", 90, 0.85, 7.9, weights=10_000)  # 5 points below: not within 1
    assert fastest_within([DENSE, fast, outside], 0.90, 1.0) == Answer(fast, ())


def test_the_tolerance_boundary_counts_as_within():
    # 0.89 is exactly 1 point below 0.90; float noise (0.9 - 0.01 = 0.89000000000000001) must not
    # exclude it.
    edge = point("unit", 70, 0.89, 4.0)
    assert fastest_within([DENSE, edge], 0.90, 1.0).point is edge


def test_nothing_within_leaves_the_dense_network():
    assert fastest_within([DENSE, point("unit", 99, 0.1, 30.0)], 0.90, 0.5).point is DENSE


def test_points_are_read_from_the_benchmark_document():
    def cell(route: str, latency: float, speedup: float) -> dict:
        best = {"route": route, "speedup_vs_fastest_dense": speedup, "speedup_p10": 2.0,
                "speedup_p90": 2.2}
        return {"model": {"nonzero_weights": 1234},
                "images": {"1": {route: {"latency_ms": latency}, "best": best}}}

    benchmark = {"dense": {"images": {"1": {"fastest": {"route": "numba", "latency_ms": 0.1}}},
                           "nonzero_weights": 5678},
                 "weight": {"90": cell("numba-csr", 0.05, 2.1)}}
    accuracy = {"weight": {90: {"test_accuracy": 0.8, "test_accuracy_min": 0.7,
                                "test_accuracy_max": 0.85}}}
    dense = {"test_accuracy": 0.9, "test_accuracy_min": 0.89, "test_accuracy_max": 0.91}
    points = frontier_points(accuracy, dense, benchmark, {"weight": [90]}, 1)
    assert points == [Point("dense", 0, 0.9, 0.89, 0.91, "numba", 0.1, 1.0, 1.0, 1.0, 5678),
                      Point("weight", 90, 0.8, 0.7, 0.85, "numba-csr", 0.05, 2.1, 2.0, 2.2, 1234)]


def test_headline_columns_sort_after_the_k_columns():
    keys = [headline_key(drop) for drop in (0.5, 1.0, 2.0, 5.0)]
    assert keys == ["≤0.5pt", "≤1pt", "≤2pt", "≤5pt"]
    assert sorted(["k99", *keys])[0] == "k99"


def test_table_and_csv_of_known_points():
    text = frontier_table({1: POINTS}, "a CPU", 3)
    assert ("| 1 | 1 | unit_refit 80 % | 0.8910 (0.8900–0.8920) | numba | 16.7 µs "
            "| 6.0× (5.9–6.1) |" in text)
    tied = frontier_table({1: [DENSE, point("unit", 80, 0.895, 8.0, weights=9),
                               point("unit_refit", 80, 0.895, 7.5, weights=5)]}, "a CPU", 3)
    assert "| 0.5 | 1 | unit_refit 80 % (ties: unit 80 %) | 0.8950" in tied
    front = text.split("## Pareto front at batch 1")[1]
    # Fastest first; the dominated unit 50 % is not listed, nor unit 99 % (on the front, but
    # 80 points below the dense network: past the table's floor).
    assert [line.split(" | ")[0] for line in front.splitlines() if line.startswith("| ")][1:] == [
        "| unit 80 %", "| unit_refit 80 %", "| weight 90 %", "| dense"]
    rows = list(csv.DictReader(io.StringIO(frontier_csv({1: POINTS}))))
    assert [row["pareto"] for row in rows] == ["1", "1", "0", "1", "1", "1"]
    assert float(rows[3]["relative_latency"]) == pytest.approx(1 / 8.0)


def test_frontier_stage_writes_every_output(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["prune"].update(methods=["weight", "unit"], ks=[0, 90])
    params["reconstruct"].update(methods=["weight_refit"], ks=[0, 90])
    params["finetune"].update(methods=["unit"], ks=[90])
    params["gradual"].update(methods=["weight"], ks=[90])
    params["scratch"]["ks"] = []
    params["benchmark"].update(curves=["weight", "unit+ft"], random_input_curves=["weight"],
                               batch_sizes=[1, 8])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    def entry(accuracy: float) -> dict:
        return {"test_accuracy": accuracy, "test_accuracy_min": accuracy - 0.01,
                "test_accuracy_max": accuracy + 0.01}

    def cell(speedup: float) -> dict:
        return {"numba": {"latency_ms": 0.1 / speedup, "stored_as": "compact",
                          "speedup_vs_fastest_dense": speedup},
                "best": {"route": "numba", "speedup_vs_fastest_dense": speedup,
                         "speedup_p10": speedup * 0.9, "speedup_p90": speedup * 1.1}}

    def limit(limit_us: float) -> dict:
        return {"compact": {"stored_bytes": 900_000, "level": "L2", "bytes_read_per_image": 6e5,
                            "bandwidth_gb_s": 60.0, "limit_us": limit_us}}

    def timed(speedup: float, kinds: tuple[str, ...]) -> dict:
        return {"model": {"zero_input_share": {kind: [0.5, 0.9, 0.8, 0.7, 0.6] for kind in kinds},
                          "nonzero_weights": round(1e6 / speedup), "limit_batch1": limit(10.0),
                          "compact_layer_sizes": [784, 100, 10]},
                **{kind: {b: cell(speedup) for b in ("1", "8")} for kind in kinds}}

    fastest = {"fastest": {"route": "numba", "latency_ms": 0.1}}
    (tmp_path / "pruning.json").write_text(json.dumps(
        {"dense": entry(0.9), "weight": {"90": entry(0.85)}}))
    (tmp_path / "finetune.json").write_text(json.dumps({"oneshot": {"unit": {"90": entry(0.885)}}}))
    (tmp_path / "benchmark.json").write_text(json.dumps({
        "meta": {"cpu": "Test CPU"},
        "dense": {"images": {"1": fastest, "8": fastest}, "random": {"1": fastest, "8": fastest},
                  "zero_input_share": {"images": [0.5] * 5, "random": [0.0] * 5},
                  "nonzero_weights": 2_000_000, "limit_batch1": limit(40.0)},
        "weight": {"90": timed(3.0, ("images", "random"))},
        "unit+ft": {"90": timed(9.0, ("images",))},
    }))
    out = tmp_path / "out"
    result = run_frontier(tmp_path / "params.yaml", tmp_path, tmp_path / "benchmark.json", out)
    assert result.returncode == 0, result.stderr
    # unit+ft 90 (0.885) is 1.5 points below dense: the answer within 2 and 5 points; within 1
    # point only the dense network qualifies.
    assert json.loads((out / "frontier" / "b8.json").read_text()) == {
        "≤0.5pt": 1.0, "≤1pt": 1.0, "≤2pt": 9.0, "≤5pt": 9.0}
    table = (out / "frontier.md").read_text()
    assert "Test CPU" in table
    assert "| weight 90 % | numba 3.0× | numba 3.0× | numba 3.0× | numba 3.0× |" in table
    limits = table.split("## What the weights allow at batch 1")[1]
    # The dense network (100 us against 40) and the one answer at batch 1, unit+ft 90 %.
    stored = "| numba | 900 kB (L2) | 600 kB | 60 GB/s |"
    # Speedup at the limits: the dense limit over the network's (40 / 10 us).
    assert f"| dense {stored} 40.0 µs | 100.0 µs | 2.5× | 1.0× | 1.0× |" in limits
    assert f"| unit+ft 90 % {stored} 10.0 µs | 11.1 µs | 1.1× | 4.0× | 9.0× |" in limits
    # Both networks run as 784-100-10 on numba (a made-up case: their speedups disagree).
    assert ("| 784-100-10 | numba | 8 | weight 90 % 3.00× (0.75), unit+ft 90 % 9.00× (0.75) "
            "| 200.0 % |" in table)
    assert (out / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    assert len((out / "frontier.csv").read_text().splitlines()) == 1 + 2 * 3


def test_frontier_stage_names_a_stale_benchmark(tmp_path):
    (tmp_path / "pruning.json").write_text(json.dumps({"dense": {}, "weight": {}}))
    (tmp_path / "finetune.json").write_text("{}")
    result = run_frontier(REPO / "params.yaml", tmp_path, tmp_path / "none.json", tmp_path / "o")
    assert result.returncode == 1
    assert "frontier: error:" in result.stderr
    assert not (tmp_path / "o").exists()


def run_frontier(params: Path, reports: Path, benchmark: Path, out: Path) -> StageRun:
    """The frontier stage on ``reports``' pruning.json and finetune.json, writing into ``out``."""
    return run_stage(
        "frontier", "--params", params, "--pruning", reports / "pruning.json",
        "--finetune", reports / "finetune.json", "--benchmark", benchmark,
        "--table", out / "frontier.md", "--png", out / "frontier.png",
        "--csv", out / "frontier.csv", "--headlines-dir", out / "frontier")
