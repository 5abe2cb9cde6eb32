"""The tables and headline files, from small hand-made results whose every figure is known."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest

from prunelab.figures.tables import (
    finetune_table,
    reconstruction_table,
    results_table,
    sensitivity_table,
    speed_table,
    training_table,
)
from prunelab.schema.every_section import validate_file
from prunelab.stats.curves import accuracy_headlines, speed_headlines, timed_networks
from prunelab.stats.evaluation import curves_csv, plot_tables


def entry(sparsity: float, accuracy: float, low: float, high: float, **more) -> dict:
    return {"sparsity": sparsity, "test_accuracy": accuracy, "test_accuracy_min": low,
            "test_accuracy_max": high, **more}


DENSE = entry(0.0, 0.9, 0.89, 0.91, params=2_386_000)
ONESHOT = {
    "weight": {0: entry(0.0, 0.9, 0.89, 0.91), 50: entry(0.4958, 0.85, 0.84, 0.8625)},
    "unit": {
        0: entry(0.0, 0.9, 0.89, 0.91, effective_sparsity=0.0, mac_reduction=1.0),
        50: entry(0.4958, 0.7, 0.65, 0.75, effective_sparsity=0.5123, mac_reduction=2.5),
    },
    "weight_refit": {50: entry(0.4958, 0.88, 0.87, 0.89)},
}
TUNED = {
    "oneshot": {"weight": {50: entry(0.4958, 0.89, 0.885, 0.895, gain_over_oneshot=0.04,
                                     finetune_seconds=12.4)}},
    "gradual": {"weight": {90: entry(0.8925, 0.8, 0.79, 0.81, finetune_seconds=30.6)}},
}


def body(table: str) -> list[str]:
    """The table's header and rows, without the prose above it."""
    return [line for line in table.splitlines() if line.startswith("|")]


def test_results_table_shows_each_method_per_k() -> None:
    table = results_table({m: ONESHOT[m] for m in ("weight", "unit")}, DENSE, [0, 50],
                          "fashion-mnist", 10000, (0, 1))
    assert "Test set: 10000 examples of fashion-mnist. Accuracy: mean over seeds [0, 1]" in table
    assert "Dense network: accuracy 0.9000 (0.8900–0.9100), 2,386,000 weights." in table
    assert body(table) == [
        "| k (%) | weight sparsity | weight accuracy | unit sparsity | unit accuracy "
        "| unit eff. sparsity | unit MAC red. |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        "| 0 | 0.00 % | 0.9000 (0.8900–0.9100) | 0.00 % | 0.9000 (0.8900–0.9100) | 0.00 % "
        "| 1.00× |",
        "| 50 | 49.58 % | 0.8500 (0.8400–0.8625) | 49.58 % | 0.7000 (0.6500–0.7500) | 51.23 % "
        "| 2.50× |",
    ]


def test_reconstruction_table_pairs_each_method_with_its_counterpart() -> None:
    # unit_refit's counterpart is not in the study: it has no pair to sit in.
    models = {"weight": ONESHOT["weight"], "weight_refit": ONESHOT["weight_refit"],
              "unit_refit": ONESHOT["unit"]}
    table = reconstruction_table(models, ("weight_refit", "unit_refit"))
    assert body(table) == [
        "| k (%) | weight | weight_refit |",
        "|---:|---:|---:|",
        "| 50 | 0.8500 (0.8400–0.8625) | 0.8800 (0.8700–0.8900) |",
    ]


def test_finetune_table_compares_one_shot_fine_tuned_and_gradual() -> None:
    table = finetune_table(ONESHOT, TUNED, DENSE, (0, 1))
    assert "Test accuracy, mean over seeds [0, 1] (min-max in brackets)" in table
    assert body(table)[2:] == [
        "| weight | 50 | 49.58 % | 0.8500 (0.8400–0.8625) | 0.8900 (0.8850–0.8950) | +4.00 pt "
        "| 12 s | — | — |",
        "| weight | 90 | 89.25 % | — | — | — | — | 0.8000 (0.7900–0.8100) | 31 s |",
    ]


def test_sensitivity_table_has_a_row_per_method_and_matrix() -> None:
    document = {"seeds": [0, 1], "weight": {
        "kernel_1": {"50": entry(0, 0.8, 0.7, 0.9), "90": entry(0, 0.5, 0.4, 0.6)},
        "kernel_0": {"50": entry(0, 0.85, 0.8, 0.9), "90": entry(0, 0.6, 0.55, 0.65)},
    }}
    table = sensitivity_table(document, ("weight",), [50, 90], [(784, 300), (300, 100)])
    assert "kernel_0 is 784×300, kernel_1 300×100." in table
    assert body(table) == [
        "| method | matrix | k=50 | k=90 |",
        "|---|---|---:|---:|",
        "| weight | kernel_0 | 0.8500 (0.8000–0.9000) | 0.6000 (0.5500–0.6500) |",
        "| weight | kernel_1 | 0.8000 (0.7000–0.9000) | 0.5000 (0.4000–0.6000) |",
    ]


def test_sensitivity_table_orders_matrices_by_depth_past_ten() -> None:
    """kernel_10 comes after kernel_9, as the network has them (not as text sorts)."""
    shapes = [(784, 8)] + [(8, 8)] * 10
    document = {"seeds": [0], "unit": {f"kernel_{layer}": {"90": entry(0, 0.5, 0.5, 0.5)}
                                       for layer in range(11)}}
    rows = body(sensitivity_table(document, ("unit",), [90], shapes))[2:]
    assert [row.split(" | ")[1] for row in rows] == [f"kernel_{layer}" for layer in range(11)]


def benchmark_row(method: str, k: int, batch: int, route: str, latency_ms: float,
                  speedup: float, mac_reduction: float) -> dict:
    return {"method": method, "k": k, "batch": batch, "route": route, "latency_ms": latency_ms,
            "speedup_vs_fastest_dense": speedup, "speedup_vs_library_dense": speedup * 1.5,
            "mac_reduction": mac_reduction, "fastest_dense_route": "numpy"}


def test_speed_table_picks_the_fastest_route_per_batch() -> None:
    rows = [
        benchmark_row("weight", 90, 1, "numba-csr", 0.02, 5.0, 9.0),
        benchmark_row("weight", 90, 1, "scipy-csr", 0.05, 2.0, 8.0),
        benchmark_row("weight", 90, 256, "scipy-csr", 2.5, 3.0, 8.0),
        benchmark_row("weight", 90, 256, "numba-csr", 4.0, 1.9, 9.0),
    ]
    assert body(speed_table(rows, ["weight", "unit"], [50, 90]))[2:] == [
        "| weight | 90 | 9.0× | numba-csr | 20.0 µs | 5.0× | 7.5× | scipy-csr | 2.50 ms | 3.0× "
        "| 4.5× |",
    ]


def test_training_table_writes_a_row_per_seed_split_and_epoch() -> None:
    logs = {2: {
        "train": {"loss": {0: "0.9", 1: "0.5"}, "accuracy": {0: "0.7", 1: "0.8"}},
        "eval": {"loss": {0: "0.6"}, "accuracy": {}},
    }}
    assert list(csv.reader(io.StringIO(training_table(logs)))) == [
        ["seed", "split", "epoch", "loss", "accuracy"],
        ["seed 2", "train", "1", "0.9", "0.7"],
        ["seed 2", "train", "2", "0.5", "0.8"],
        ["seed 2", "validation", "1", "0.6", ""],
    ]


PROJECT = validate_file(Path(__file__).resolve().parents[1] / "params.yaml")
PARAMS = PROJECT.replace(
    prune=replace(PROJECT.prune, methods=("weight",), ks=(50, 0)),
    reconstruct=replace(PROJECT.reconstruct, methods=("weight_refit",), ks=(50,)),
    finetune=replace(PROJECT.finetune, methods=("weight",), ks=(50,)),
    gradual=replace(PROJECT.gradual, methods=(), ks=(90,)),
    scratch=replace(PROJECT.scratch, ks=()),
    lottery=replace(PROJECT.lottery, ks=()),
    benchmark=replace(PROJECT.benchmark, curves=("weight", "weight+ft"), random_input_curves=(),
                      batch_sizes=(1,)),
)


def test_accuracy_headlines_round_the_mean_accuracy_per_curve() -> None:
    pruning = {"dense": {"test_accuracy": 0.912345},
               "weight": {"0": {"test_accuracy": 0.912345}, "50": {"test_accuracy": 0.85555}},
               "weight_refit": {"50": {"test_accuracy": 0.88004}}}
    finetune = {"oneshot": {"weight": {"50": {"test_accuracy": 0.9}}}}
    assert accuracy_headlines(pruning, finetune, PARAMS) == {
        "dense": {"k00": 0.9123},
        "weight": {"k00": 0.9123, "k50": 0.8556},
        "weight_refit": {"k50": 0.88},
        "weight+ft": {"k50": 0.9},
    }


def test_speed_headlines_take_the_best_route_speedup_on_test_images() -> None:
    def cell(images: float) -> dict:
        return {"images": {"1": {"best": {"speedup_vs_fastest_dense": images}}},
                "random": {"1": {"best": {"speedup_vs_fastest_dense": 99.0}}}}

    benchmark = {"weight": {"50": cell(1.234)}, "weight+ft": {"50": cell(2.345)}}
    # k = 0 is the dense network's shape: not timed, no column.
    assert speed_headlines(benchmark, PARAMS) == {"weight-b1": {"k50": 1.23},
                                                  "weight+ft-b1": {"k50": 2.35}}


def test_timed_networks_are_the_benchmark_curves_without_k_0() -> None:
    assert timed_networks(PARAMS) == {"weight": [50], "weight+ft": [50]}


def test_curves_csv_writes_a_row_per_k_ascending() -> None:
    figures = {"sparsity_hidden": 0.5, "effective_sparsity": 0.5, "effective_sparsity_hidden": 0.5,
               "test_loss": 0.4, "nonzero_params": 120, "compression_ratio": 2.0,
               "mac_reduction": None, "sparse_mac_reduction": 2.0}
    text = curves_csv({50: entry(0.5, 0.8, 0.7, 0.9, **figures),
                       0: entry(0.0, 0.9, 0.9, 0.9, **figures)})
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["k"] for row in rows] == ["0", "50"]
    assert rows[1]["test_accuracy_min"] == "0.7" and rows[1]["nonzero_params"] == "120"
    assert rows[1]["mac_reduction"] == ""  # None: everything pruned


def test_plot_tables_put_each_method_beside_its_retrained_curves() -> None:
    figures = {"test_loss": 0.5, "test_loss_min": 0.4, "test_loss_max": 0.6}
    curves = {
        (None, "weight"): {0: entry(0.0, 0.9, 0.9, 0.9, **figures),
                           50: entry(0.5, 0.8, 0.7, 0.9, **figures)},
        (None, "weight_refit"): {50: entry(0.5, 0.85, 0.8, 0.9, **figures)},
        ("oneshot", "weight"): {50: entry(0.5, 0.88, 0.87, 0.89, **figures)},
    }
    tables = plot_tables(PARAMS, curves)
    oneshot = list(csv.DictReader(io.StringIO(tables["oneshot"])))
    assert [(r["curve"], r["schedule"], r["k"], r["test_accuracy"]) for r in oneshot] == [
        ("weight", "none", "0", "0.9"), ("weight", "none", "50", "0.8"),
        ("weight_refit", "none", "50", "0.85")]
    finetuned = list(csv.DictReader(io.StringIO(tables["finetuned"])))
    assert [(r["method"], r["curve"], r["k"], r["test_accuracy_max"]) for r in finetuned] == [
        ("weight", "weight", "0", "0.9"), ("weight", "weight", "50", "0.9"),
        ("weight", "weight+ft", "50", "0.89")]
    assert {r["test_loss_min"] for r in oneshot + finetuned} == {"0.4"}


@pytest.mark.parametrize("method", ["weight", "unit"])
def test_results_table_marks_a_k_a_method_lacks(method: str) -> None:
    models = {method: {0: ONESHOT[method][0]}, "random": {50: ONESHOT["weight"][50]}}
    rows = body(results_table(models, DENSE, [0, 50], "mnist", 100, (0,)))
    assert rows[3].startswith("| 50 | — | — | 49.58 % | 0.8500 (0.8400–0.8625) |")
