"""Which accuracy curves the study has, and the small headline files DVC shows as metrics.

Every stage that lists curves asks :func:`oneshot_curves` and :func:`finetuned_curves`; nothing
else names a method. The headline files are what ``dvc metrics show`` prints: one JSON file per
curve (a row), keyed ``k<k>`` (the columns, shared by every file), so the table reads like the
results table. Everything else (per-seed values, spreads, per-layer figures, every latency) stays
in the reports (``metrics/pruning.json``, ``metrics/finetune.json``, ``metrics/benchmark.*``),
which DVC tracks as outputs, not metrics.
"""

from __future__ import annotations

from typing import Any

from prunelab.wiring.names import CONTROL_METHOD, curve_name
from prunelab.wiring.params import Params

# Decimal places of the headline figures: enough to see a change, few enough to read.
ACCURACY_DIGITS = 4
SPEEDUP_DIGITS = 2
# The magnitude method whose mask rule and counts each data-aware method shares: the one it is
# compared with in the tables.
COUNTERPART = {"weight_refit": "weight", "unit_refit": "unit", "wanda": "weight"}


def oneshot_curves(params: Params) -> dict[str, list[int]]:
    """``{method: ks ascending}`` of every one-shot (pruned, not retrained) curve: the magnitude
    methods of ``prune``, then the data-aware ones of ``reconstruct``."""
    return {
        method: sorted(section.ks)
        for section in (params.prune, params.reconstruct)
        for method in section.methods
    }


def finetuned_curves(params: Params) -> dict[tuple[str, str], list[int]]:
    """``{(schedule, method): ks ascending}`` of every retrained curve: fine-tuned and gradual,
    then the controls that have ks (:data:`prunelab.wiring.names.CONTROL_METHOD`)."""
    curves = {
        (schedule, method): sorted(section.ks)
        for schedule, section in (("oneshot", params.finetune), ("gradual", params.gradual))
        for method in section.methods
    }
    for schedule, section in (("scratch", params.scratch), ("lottery", params.lottery),
                              ("reinit", params.lottery)):
        if section.ks:
            curves[(schedule, CONTROL_METHOD[schedule])] = sorted(section.ks)
    return curves


def k_key(k: int) -> str:
    """The column of sparsity level ``k`` (zero-padded so columns sort by k)."""
    return f"k{k:02d}"


def accuracy_headlines(pruning: dict, finetune: dict, params: Params) -> dict[str, dict[str, Any]]:
    """``{file stem: {k_key: mean test accuracy}}`` from the evaluate stage's two reports.

    ``dense`` has the dense network's mean accuracy under ``k00``; then one entry per one-shot
    curve and one per fine-tuned curve, in the params' order.
    """
    rows: dict[str, dict[str, Any]] = {
        "dense": {k_key(0): round(pruning["dense"]["test_accuracy"], ACCURACY_DIGITS)}
    }
    for method, ks in oneshot_curves(params).items():
        rows[curve_name(None, method)] = {
            k_key(k): round(pruning[method][str(k)]["test_accuracy"], ACCURACY_DIGITS) for k in ks
        }
    for (schedule, method), ks in finetuned_curves(params).items():
        rows[curve_name(schedule, method)] = {
            k_key(k): round(finetune[schedule][method][str(k)]["test_accuracy"], ACCURACY_DIGITS)
            for k in ks
        }
    return rows


def timed_networks(params: Params) -> dict[str, list[int]]:
    """``{curve name: ks ascending}`` of the networks the benchmark times: each curve of
    ``benchmark.curves`` at its own section's ks, k = 0 left out (that is the dense network's
    shape, which the benchmark's dense phase times)."""
    every = {curve_name(None, method): ks for method, ks in oneshot_curves(params).items()}
    every.update({curve_name(schedule, method): ks
                  for (schedule, method), ks in finetuned_curves(params).items()})
    return {curve: [k for k in every[curve] if k > 0] for curve in params.benchmark.curves}


def speed_headlines(benchmark: dict, params: Params) -> dict[str, dict[str, Any]]:
    """``{<curve>-b<batch>: {k_key: speedup}}``: per timed curve and batch size, the speedup of
    the fastest route over the fastest dense route on test images, from the benchmark stage's
    JSON."""
    rows: dict[str, dict[str, Any]] = {}
    for curve, ks in timed_networks(params).items():
        for batch in params.benchmark.batch_sizes:
            rows[f"{curve}-b{batch}"] = {
                k_key(k): round(
                    benchmark[curve][str(k)]["images"][str(batch)]["best"]
                    ["speedup_vs_fastest_dense"],
                    SPEEDUP_DIGITS,
                )
                for k in ks
            }
    return rows
