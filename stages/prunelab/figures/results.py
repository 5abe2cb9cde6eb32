"""The earlier stages' results, read for the plot stage and checked against the params.

Exactly what the params file lists is taken (never by listing anything), so a report that is
older than ``params.yaml`` fails with a :class:`prunelab.wiring.errors.StageError` that says which
stage to rerun, instead of a figure with a curve missing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from prunelab.figures.tables import TRAINING_QUANTITIES, TRAINING_SPLITS
from prunelab.stats.curves import finetuned_curves
from prunelab.wiring.errors import StageError
from prunelab.wiring.layout import train_log_path
from prunelab.wiring.params import Params

# What the tables and figures read of every one-shot entry.
ONESHOT_KEYS = ("test_accuracy", "test_accuracy_min", "test_accuracy_max", "test_loss",
                "sparsity", "effective_sparsity", "mac_reduction")
BENCHMARK_NUMBERS = ("latency_ms", "speedup_vs_fastest_dense", "speedup_vs_library_dense",
                     "mac_reduction")
BENCHMARK_COLUMNS = {"method", "k", "input", "batch", "route", "fastest_dense_route",
                     *BENCHMARK_NUMBERS}


def read_json(path: Path, made_by: str) -> dict[str, Any]:
    """A stage's JSON object; a missing or unreadable file names the stage ``made_by``."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise StageError(f"{path} is missing: run `dvc repro` (the {made_by} stage)") from None
    except (OSError, json.JSONDecodeError) as error:
        raise StageError(f"cannot read {path}: {error} (rerun the {made_by} stage)") from None
    if not isinstance(document, dict):
        raise StageError(f"{path} is not a JSON object (rerun the {made_by} stage)")
    return document


def select_oneshot(pruning: dict, curves: dict[str, list[int]], path: Path
                   ) -> dict[str, dict[int, dict]]:
    """``{method: {k: entry}}`` for exactly the params' one-shot models
    (``prunelab.stats.curves.oneshot_curves``), after checking that the dense entry has its size and
    the magnitude figures of ``prunelab.stats.sparsity.magnitude_stats``."""
    missing = [
        f"{m}/{k}"
        for m, ks in curves.items()
        for k in ks
        if not isinstance(pruning.get(m), dict) or str(k) not in pruning[m]
    ] + ([] if "dense" in pruning else ["dense"])
    if missing:
        raise StageError(
            f"{path} has no entry for {', '.join(missing)}: it is older than params.yaml; "
            "run `dvc repro` (the evaluate stage)"
        )
    models = {m: {k: pruning[m][str(k)] for k in ks} for m, ks in curves.items()}
    entries = [("dense", pruning["dense"])] + [
        (f"{m}/{k}", models[m][k]) for m, ks in curves.items() for k in ks
    ]
    incomplete = [
        name
        for name, entry in entries
        if not isinstance(entry, dict) or any(key not in entry for key in ONESHOT_KEYS)
    ]
    if incomplete or any(key not in pruning["dense"] for key in ("params", "magnitudes")):
        raise StageError(
            f"{path}: incomplete entries for {', '.join(incomplete) or 'dense'}: "
            "rerun the evaluate stage (`dvc repro`)"
        )
    return models


def select_tuned(document: dict, params: Params, path: Path
                 ) -> dict[str, dict[str, dict[int, dict]]]:
    """``{schedule: {method: {k: entry}}}`` for exactly the fine-tuning the params ask for."""
    tuned: dict[str, dict[str, dict[int, dict]]] = {}
    missing = []
    for (schedule, method), ks in finetuned_curves(params).items():
        for k in ks:
            entry = document.get(schedule, {}).get(method, {}).get(str(k))
            if not isinstance(entry, dict) or "finetune_seconds" not in entry:
                missing.append(f"{schedule}/{method}/{k}")
                continue
            tuned.setdefault(schedule, {}).setdefault(method, {})[k] = entry
    if missing:
        raise StageError(
            f"{path} has no entry for {', '.join(missing)}: it is older than params.yaml; "
            "run `dvc repro` (the evaluate stage)"
        )
    return tuned


def check_sensitivity(document: dict, methods: tuple[str, ...], ks: list[int], path: Path) -> None:
    """Raise a :class:`StageError` unless the sensitivity document has every method and k."""
    if any(str(k) not in document.get(m, {}).get("kernel_0", {}) for m in methods for k in ks):
        raise StageError(f"{path} is older than params.yaml: run `dvc repro`")


def read_benchmark(path: Path) -> list[dict[str, Any]]:
    """The benchmark stage's tidy CSV, numbers parsed."""
    try:
        with path.open(newline="") as stream:
            rows = list(csv.DictReader(stream))
    except FileNotFoundError:
        raise StageError(f"{path} is missing: run `dvc repro` (the benchmark stage)") from None
    if not rows or not set(rows[0]) >= BENCHMARK_COLUMNS:
        raise StageError(
            f"{path} lacks the columns {sorted(BENCHMARK_COLUMNS)}: rerun the benchmark stage"
        )
    for row in rows:
        row["k"], row["batch"] = int(row["k"]), int(row["batch"])
        for key in BENCHMARK_NUMBERS:
            row[key] = float(row[key])
    return rows


def read_training_logs(train_logs: Path, seeds: tuple[int, ...]
                       ) -> dict[int, dict[str, dict[str, dict[int, str]]]]:
    """Every seed's per-epoch training log (dvclive's TSV files,
    :func:`prunelab.wiring.layout.train_log_path`): ``{seed: {split folder: {quantity: {step: value
    as written}}}}``."""
    logs: dict[int, dict[str, dict[str, dict[int, str]]]] = {}
    for seed in seeds:
        for folder in TRAINING_SPLITS:
            for quantity in TRAINING_QUANTITIES:
                path = train_log_path(train_logs, seed, folder, quantity)
                try:
                    with path.open(newline="") as stream:
                        table = list(csv.DictReader(stream, delimiter="\t"))
                except FileNotFoundError:
                    raise StageError(f"{path} is missing: run `dvc repro` (train@{seed})") from None
                column = {int(row["step"]): row[quantity] for row in table}
                logs.setdefault(seed, {}).setdefault(folder, {})[quantity] = column
    return logs
