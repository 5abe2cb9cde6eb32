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

from prunelab.wiring.params import Params

# Decimal places of the headline figures: enough to see a change, few enough to read.
ACCURACY_DIGITS = 4
SPEEDUP_DIGITS = 2
# The magnitude method whose mask rule and counts each data-aware method shares: the one it is
# compared with in the tables.
COUNTERPART = {"weight_refit": "weight", "unit_refit": "unit", "wanda": "weight"}
# The label a fine-tuning schedule gets after the method name in a curve's name.
SCHEDULE_SUFFIX = {"oneshot": "ft", "gradual": "gradual"}


def oneshot_curves(params: Params) -> dict[str, list[int]]:
    """``{method: ks ascending}`` of every one-shot (pruned, not retrained) curve: the magnitude
    methods of ``prune``, then the data-aware ones of ``reconstruct``."""
    return {
        method: sorted(section.ks)
        for section in (params.prune, params.reconstruct)
        for method in section.methods
    }


def finetuned_curves(params: Params) -> dict[tuple[str, str], list[int]]:
    """``{(schedule, method): ks ascending}`` of every retrained curve."""
    return {
        (schedule, method): sorted(section.ks)
        for schedule, section in (("oneshot", params.finetune), ("gradual", params.gradual))
        for method in section.methods
    }


def curve_name(schedule: str | None, method: str) -> str:
    """A curve's name in headline files and plots: ``weight``, ``weight+ft``, ``weight+gradual``."""
    if schedule is None:
        return method
    return f"{method}+{SCHEDULE_SUFFIX.get(schedule, schedule)}"


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


def speed_headlines(benchmark: dict, params: Params) -> dict[str, dict[str, Any]]:
    """``{<method>-b<batch>: {k_key: speedup}}``: per timed method and batch size, the speedup of
    the fastest route over the fastest dense route, from the benchmark stage's JSON."""
    rows: dict[str, dict[str, Any]] = {}
    for method in params.benchmark.methods:
        for batch in params.benchmark.batch_sizes:
            rows[f"{method}-b{batch}"] = {
                k_key(k): round(
                    benchmark[method][str(k)][str(batch)]["best"]["speedup_vs_fastest_dense"],
                    SPEEDUP_DIGITS,
                )
                for k in sorted(params.prune.ks)
            }
    return rows
