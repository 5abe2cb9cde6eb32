"""How the benchmark turns the timings of a run into speedups, and its CSV.

A cell is one network, input kind and batch size. The dense network is timed in every round
of every cell (its routes that :class:`DenseBaselines` names as contenders, interleaved with
the cell's routes), and each speedup is **paired by round**: a round's median dense call over
the route's median call in the same round (its calls milliseconds apart), and the speedup is
the median of these ratios over the cell's rounds. The dense route is the fastest of those the
cell re-timed, by their calls pooled over the whole run (:class:`PooledDense`). A 2-vCPU machine
has faster and slower spells, from a few rounds to tens of seconds: a ratio taken within one
round cancels most of a spell, a median pooled over the run cannot. Between two
back-to-back runs, speedups against the pooled median moved several times as far as the paired
ones (``metrics/stability/run-to-run.md``); the pooled one is kept as a check
(``speedup_vs_pooled_dense``).

Each speedup comes with its spread: the 10th and 90th percentile of the median ratio recomputed
on :data:`BOOTSTRAP_DRAWS` resamples of the cell's rounds (seeded: the same calls give the same
figures). Whole rounds are resampled, not single calls: the calls of one round run back to back
and share its state (threads awake or asleep, caches), so they are not independent, and
resampling calls would understate the spread. The frontier ranks only speedups whose spreads do
not overlap (:mod:`prunelab.stats.frontier`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import numpy as np

from prunelab.speed.routes.base import Kernels
from prunelab.speed.routes.registry import ROUTES
from prunelab.speed.storage import storage_figures
from prunelab.speed.timing import Timings
from prunelab.stats.sparsity import model_stats

#: The off-the-shelf dense runtimes (everything but the numba pass).
LIBRARY_DENSE_RUNTIMES = ("numpy", "tensorflow", "litert")
#: Timer key prefix of the interleaved dense references (route names never contain a colon).
REFERENCE = "dense:"
#: Dense routes within REF_SLACK x the fastest one of the dense phase are re-timed in every
#: model cell (with the fastest library route), their calls pooled into the reference. A relative
#: margin only: an absolute one of 1 ms re-timed, at batch 1, three routes 2-3x slower than the
#: fastest (0.14 ms) in every cell, each slot of rounds taken from the cell's own routes.
REF_SLACK = 1.3
#: Resamples of a route's timed calls behind each speedup's spread (percentiles below).
BOOTSTRAP_DRAWS = 400
SPREAD_PERCENTILES = (10, 90)
#: The CSV's columns: one row per (curve, k, input, batch, route); ``method`` is the curve's name.
CSV_COLUMNS = (
    "method",
    "k",
    "input",
    "batch",
    "route",
    "runtime",
    "storage",
    "latency_ms",
    "latency_p10_ms",
    "latency_p90_ms",
    "timed_calls",
    "fastest_dense_route",
    "fastest_dense_ms",
    "speedup_vs_fastest_dense",
    "speedup_p10",
    "speedup_p90",
    "cell_dense_ms",
    "speedup_vs_pooled_dense",
    "library_dense_route",
    "library_dense_ms",
    "speedup_vs_library_dense",
    "same_runtime_dense_route",
    "speedup_vs_same_runtime_dense",
    "mac_reduction",
    "model_bytes_raw",
    "model_bytes_compressed",
)

def is_library(name: str) -> bool:
    """Whether a route runs on an off-the-shelf runtime (:data:`LIBRARY_DENSE_RUNTIMES`)."""
    return ROUTES[name].runtime in LIBRARY_DENSE_RUNTIMES


class DenseBaselines:
    """Medians of the dense routes at one input kind and batch size (the dense phase's, or
    pooled over the run) and the baselines derived from them."""

    def __init__(self, medians: dict[str, float]) -> None:
        self.medians = medians
        self.fastest = min(medians, key=medians.get)
        self.by_runtime: dict[str, str] = {}
        for name in sorted(medians, key=medians.get):
            self.by_runtime.setdefault(ROUTES[name].runtime, name)
        library = [n for n in medians if is_library(n)]
        self.library = min(library, key=medians.get) if library else self.fastest
        # Routes close enough to the fastest that noise in this phase could have ranked them
        # wrong: each model cell re-times all of them, interleaved, and takes the best there.
        cutoff = REF_SLACK * medians[self.fastest]
        self.contenders = [n for n in medians if medians[n] <= cutoff or n == self.library]


def model_figures(kernels: Kernels, compact_kernels: Kernels, npz_file_bytes: int) -> dict:
    """A pruned model's size, MAC reductions and storage bytes; ``routes`` is filled later."""
    stats = model_stats(kernels)
    return {
        "compact_layer_sizes": stats["shrunk_layer_sizes"],
        "nonzero_weights": stats["effective_nonzero_params"],
        "effective_sparsity": stats["effective_sparsity"],
        "mac_reduction_compact": stats["mac_reduction"],
        "mac_reduction_sparse": stats["sparse_mac_reduction"],
        "npz_file_bytes": npz_file_bytes,
        **storage_figures(kernels, compact_kernels),
        "routes": {},
    }


class PooledDense:
    """Every timed call of each dense route at one input kind and batch size: the dense phase's
    and those of every cell that re-timed it. Its baselines (:class:`DenseBaselines` of the
    pooled medians) pick each cell's paired reference, and give the library, same-runtime and
    pooled (check) speedups of every cell of that input kind and batch size."""

    def __init__(self, phase: Timings) -> None:
        self.samples = {name: list(values) for name, values in phase.samples.items()}

    def add_cell(self, timings: Timings) -> None:
        """Pool the dense references a cell timed (:data:`REFERENCE` + route name)."""
        for key, values in timings.samples.items():
            if key.startswith(REFERENCE):
                self.samples[key.removeprefix(REFERENCE)].extend(values)

    def baselines(self) -> DenseBaselines:
        return DenseBaselines({name: float(np.median(values))
                               for name, values in self.samples.items()})

    def figures(self, name: str) -> dict[str, Any]:
        return {"route": name, **Timings(self.samples).figures(name)}


def round_medians(samples: list[float], per_round: int) -> np.ndarray:
    """The median of each round's calls (``per_round`` calls a round, in round order)."""
    return np.median(np.asarray(samples).reshape(-1, per_round), axis=1)


def paired_speedup(reference_rounds: np.ndarray, route_rounds: np.ndarray) -> float:
    """The median over rounds of the reference's round median over the route's."""
    return float(np.median(reference_rounds / route_rounds))


def speedup_spread(reference_rounds: np.ndarray, route_rounds: np.ndarray,
                   rng: np.random.Generator) -> tuple[float, float]:
    """The :data:`SPREAD_PERCENTILES` of :func:`paired_speedup` over :data:`BOOTSTRAP_DRAWS`
    resamples of the rounds (as many rounds as there are, with replacement; a round keeps its
    reference and route calls together)."""
    ratios = reference_rounds / route_rounds
    picks = rng.integers(0, len(ratios), size=(BOOTSTRAP_DRAWS, len(ratios)))
    low, high = np.percentile(np.median(ratios[picks], axis=1), SPREAD_PERCENTILES)
    return float(low), float(high)


def score_cell(timings: Timings, pooled: PooledDense, chosen: Iterable[str], model: dict,
               row_key: dict[str, Any], rng: np.random.Generator
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Figures of one model x batch size cell, and its CSV rows (each starting with ``row_key``).

    ``timings`` holds the cell's ``chosen`` routes and its dense references (:data:`REFERENCE`
    + name), all timed in the same rounds; ``pooled`` every dense call of the run at this input
    kind and batch size. The reference of the paired speedups is the dense route of the cell
    with the lowest pooled median.
    """
    base = pooled.baselines()
    in_cell = [name for name in base.medians if REFERENCE + name in timings.samples]
    fastest = min(in_cell, key=base.medians.get)
    key = REFERENCE + fastest
    reference_rounds = round_medians(timings.samples[key], timings.per_round.get(key, 1))
    pooled_s, library = base.medians[fastest], base.medians[base.library]
    cell_dense_s = timings.median(key)
    cell: dict[str, Any] = {
        "fastest_dense": pooled.figures(fastest),
        "library_dense": pooled.figures(base.library),
        "cell_dense_ms": cell_dense_s * 1e3,
    }
    best = {"route": None, "speedup_vs_fastest_dense": 0.0, "speedup_vs_library_dense": 0.0}
    rows = []
    for name in chosen:
        route = ROUTES[name]
        median = timings.median(name)
        route_rounds = round_medians(timings.samples[name], timings.per_round.get(name, 1))
        speedup = paired_speedup(reference_rounds, route_rounds)
        low, high = speedup_spread(reference_rounds, route_rounds, rng)
        same = base.by_runtime.get(route.runtime, fastest)
        sparse = route.storage == "sparse"
        stored = "csr" if sparse else "compact"
        figures = {
            **timings.figures(name),
            "stored_as": stored,  # the storage of limit_batch1 that applies
            "speedup_vs_fastest_dense": speedup,
            "speedup_p10": low,
            "speedup_p90": high,
            "speedup_vs_pooled_dense": pooled_s / median,
            "speedup_vs_library_dense": library / median,
            "speedup_vs_same_runtime_dense": base.medians[same] / median,
            "library_dense_route": base.library,
            "same_runtime_dense_route": same,
            "mac_reduction": model["mac_reduction_sparse" if sparse else "mac_reduction_compact"],
            "model_bytes_raw": model[f"{stored}_bytes_raw"],
            "model_bytes_compressed": model[f"{stored}_bytes_compressed"],
        }
        cell[name] = figures
        rows.append({
            **row_key, "route": name, "runtime": route.runtime, "storage": route.storage,
            "fastest_dense_route": fastest, "fastest_dense_ms": pooled_s * 1e3,
            "cell_dense_ms": cell_dense_s * 1e3, "library_dense_ms": library * 1e3, **figures,
        })
        if speedup > best["speedup_vs_fastest_dense"]:
            best = {"route": name, "speedup_vs_fastest_dense": speedup,
                    "speedup_p10": low, "speedup_p90": high,
                    "speedup_vs_library_dense": figures["speedup_vs_library_dense"]}
    cell["best"] = best
    return cell, rows


def csv_table(rows: list[dict[str, Any]]) -> bytes:
    """The rows as CSV in :data:`CSV_COLUMNS` order; floats to 6 significant digits."""
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_value(row.get(key)) for key in CSV_COLUMNS})
    return table.getvalue().encode()


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value
