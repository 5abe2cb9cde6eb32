"""How the benchmark turns one cell's timings into speedups, and its CSV.

A cell is one network, input kind and batch size. Every speedup compares routes on the same
inputs in the same rounds: the fastest dense route of the cell is the dense reference re-timed
there with the lowest median (:func:`score_cell`); the dense phase's medians
(:class:`DenseBaselines`) say which dense routes are worth re-timing in every cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from prunelab.speed.routes.base import Kernels
from prunelab.speed.routes.registry import ROUTES
from prunelab.speed.storage import storage_figures
from prunelab.speed.timing import Timings
from prunelab.stats.sparsity import model_stats

#: The off-the-shelf dense runtimes (everything but the numba pass).
LIBRARY_DENSE_RUNTIMES = ("numpy", "tensorflow", "litert")
#: Timer key prefix of the interleaved dense references (route names never contain a colon).
REFERENCE = "dense:"
#: Dense routes within REF_SLACK x (or REF_ABS_S of) the fastest one of the dense phase are
#: re-timed in every model cell; the fastest there is the cell's reference.
REF_SLACK = 1.3
REF_ABS_S = 0.001
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
    """Dense-phase medians of one batch size and the baselines derived from them."""

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
        cutoff = max(REF_SLACK * medians[self.fastest], medians[self.fastest] + REF_ABS_S)
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


def _same_runtime_baseline(runtime: str, dense_s: dict[str, float], base: DenseBaselines,
                           fastest: str) -> tuple[str, float]:
    """The runtime's own dense baseline: its fastest dense route re-timed in this cell if any
    was, else the dense phase's, scaled by its ratio to the cell's fastest."""
    retimed = [n for n in dense_s if ROUTES[n].runtime == runtime]
    if retimed:
        same = min(retimed, key=dense_s.get)
        return same, dense_s[same]
    same = base.by_runtime.get(runtime, fastest)
    return same, dense_s[fastest] * base.medians[same] / base.medians[fastest]


def score_cell(timings: Timings, base: DenseBaselines, chosen: Iterable[str], model: dict,
               row_key: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Figures of one model x batch size cell, and its CSV rows (each starting with ``row_key``).

    ``timings`` holds the cell's ``chosen`` routes and its dense references
    (:data:`REFERENCE` + name, for every one of ``base.contenders``).
    """
    dense_s = {name: timings.median(REFERENCE + name) for name in base.contenders}
    fastest = min(dense_s, key=dense_s.get)
    library_name = min((n for n in dense_s if is_library(n)), key=dense_s.get)
    reference, library = dense_s[fastest], dense_s[library_name]
    cell: dict[str, Any] = {
        "fastest_dense": {"route": fastest, **timings.figures(REFERENCE + fastest)},
        "library_dense": {"route": library_name, **timings.figures(REFERENCE + library_name)},
    }
    best = {"route": None, "speedup_vs_fastest_dense": 0.0, "speedup_vs_library_dense": 0.0}
    rows = []
    for name in chosen:
        route = ROUTES[name]
        median = timings.median(name)
        speedup = reference / median
        same, same_s = _same_runtime_baseline(route.runtime, dense_s, base, fastest)
        sparse = route.storage == "sparse"
        stored = "csr" if sparse else "compact"
        figures = {
            **timings.figures(name),
            "speedup_vs_fastest_dense": speedup,
            "speedup_vs_library_dense": library / median,
            "speedup_vs_same_runtime_dense": same_s / median,
            "library_dense_route": library_name,
            "same_runtime_dense_route": same,
            "mac_reduction": model["mac_reduction_sparse" if sparse else "mac_reduction_compact"],
            "model_bytes_raw": model[f"{stored}_bytes_raw"],
            "model_bytes_compressed": model[f"{stored}_bytes_compressed"],
        }
        cell[name] = figures
        rows.append({
            **row_key, "route": name, "runtime": route.runtime, "storage": route.storage,
            "fastest_dense_route": fastest, "fastest_dense_ms": reference * 1e3,
            "library_dense_ms": library * 1e3, **figures,
        })
        if speedup > best["speedup_vs_fastest_dense"]:
            best = {"route": name, "speedup_vs_fastest_dense": speedup,
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
