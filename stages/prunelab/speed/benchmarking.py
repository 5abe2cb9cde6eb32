"""What the benchmark stage times, and how it turns timings into speedups.

Every pruned network is first made compact (dead hidden units physically removed,
:func:`prunelab.speed.routes.base.compact`), then run by the routes of :mod:`prunelab.speed.routes`
that suit it (:func:`routes_for`):

* unit pruning, and weight pruning below ``k = 50`` (CSR would be larger than the dense
  matrices): the dense routes on the compact network -- for unit pruning a genuinely smaller
  dense network (numpy with 2 and 1 BLAS threads, the Keras model in TensorFlow, LiteRT, and the
  numba pass up to batch 256, beyond which BLAS wins by design);
* weight pruning from ``k = 50``: the sparse routes worth trying at that sparsity --
  ``numba-csr`` and ``scipy-csr`` always, ``tf-csr`` from 70, ``tf-sparse`` from 90 (at batches
  above 256 only from 97: single-threaded, it is ~10x slower than dense there), and
  ``litert-sparse`` from 95 (below, LiteRT densifies a random pattern when it loads).

Timing (:mod:`prunelab.speed.timing`), all in one process, for every batch size (inputs are seeded
uniform [0, 1) pixels, the same for every route; no zero pixels, the worst case for the routes
that skip zero activations; small batches cycle through :data:`INPUT_POOL` distinct inputs, so
no route can learn one input's branch pattern by heart):

1. Dense phase (:meth:`Benchmark.time_dense`): every dense route on the dense network. The
   lowest median is *the fastest dense route* of that batch size; the fastest dense route of
   each runtime is that runtime's dense baseline (:class:`DenseBaselines`). It gets three times
   the cell budget.
2. Model phase (:meth:`Benchmark.time_model`): for each model and batch size, rounds of one call
   of each dense route (on the dense network) that came within 30 % (or 1 ms) of the fastest in
   the dense phase, plus the fastest library one, and of each of the model's routes. The fastest
   dense route of the cell is the one with the lowest median there (:func:`score_cell`).
"""

from __future__ import annotations

import csv
import io
import os
import platform
import random
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from prunelab.model.forward import forward
from prunelab.speed import timing
from prunelab.speed.routes.base import Kernels, Runner, compact
from prunelab.speed.routes.registry import DENSE_ROUTES, ROUTES, prepare
from prunelab.speed.routes.tensorflow_ops import onednn_spmm_enabled
from prunelab.speed.storage import storage_figures
from prunelab.speed.timing import Timer, Timings
from prunelab.stats.sparsity import model_stats
from prunelab.wiring.machine import cpu_model
from prunelab.wiring.params import BenchmarkParams

#: Distinct input batches cycled through at batch sizes up to SMALL_BATCH.
INPUT_POOL = 16
SMALL_BATCH = 16
SEED = 0
#: Weight pruning below this keeps at least half the weights: CSR (value + index) would be
#: larger than the dense matrices, so such models are run by the dense routes.
SPARSE_MIN_K = 50
#: The per-sample numba dense pass is for small batches (measured at every batch size in the
#: dense phase all the same).
NUMBA_DENSE_MAX_BATCH = 256
#: Beyond this batch size tf.sparse runs only from k = 97 (see the module docstring).
TF_SPARSE_MAX_BATCH = 256
#: The off-the-shelf dense runtimes (everything but the numba pass).
LIBRARY_DENSE_RUNTIMES = ("numpy", "tensorflow", "litert")
#: Timer key prefix of the interleaved dense references (route names never contain a colon).
REFERENCE = "dense:"
#: Dense routes within REF_SLACK x (or REF_ABS_S of) the fastest one of the dense phase are
#: re-timed in every model cell; the fastest there is the cell's reference.
REF_SLACK = 1.3
REF_ABS_S = 0.001
#: A route whose logits differ more than this (relative to the largest |logit|) is not timed.
TOLERANCE = 1e-4

#: The CSV's columns: one row per (method, k, batch, route).
CSV_COLUMNS = (
    "method",
    "k",
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

def routes_for(method: str, k: int, batch: int) -> tuple[str, ...]:
    """The routes benchmarked for one pruned model at one batch size (module docstring: why)."""
    if method == "unit" or k < SPARSE_MIN_K:
        return tuple(
            name for name in DENSE_ROUTES if name != "numba" or batch <= NUMBA_DENSE_MAX_BATCH
        )
    routes = ["numba-csr", "scipy-csr"]
    if k >= 70:
        routes.append("tf-csr")
    if k >= 90 and (batch <= TF_SPARSE_MAX_BATCH or k >= 97):
        routes.append("tf-sparse")
    if k >= 95:
        routes.append("litert-sparse")
    return tuple(routes)


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


def relative_error(runner: Runner, kernels: Kernels, batch: np.ndarray) -> float:
    """Largest |difference| to the reference forward pass, relative to the largest |logit|."""
    reference = forward(kernels, batch)
    scale = max(float(np.abs(reference).max()), 1e-6)
    return float(np.abs(runner(batch) - reference).max()) / scale


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


def input_batches(batch_sizes: tuple[int, ...], inputs: int) -> tuple[dict[int, list[np.ndarray]],
                                                                np.ndarray]:
    """Seeded uniform [0, 1) inputs: a pool of batches per batch size, and a check batch of 8."""
    rng = np.random.default_rng(SEED)
    batches = {
        n: list(rng.random((INPUT_POOL if n <= SMALL_BATCH else 1, n, inputs), dtype=np.float32))
        for n in batch_sizes
    }
    return batches, rng.random((8, inputs), dtype=np.float32)


def checked_routes(names: Iterable[str], kernels: Kernels, run_kernels: Kernels,
                   check: np.ndarray, status: dict[str, str]) -> dict[str, Runner]:
    """The routes of ``names`` prepared on ``run_kernels`` whose logits on ``check`` match
    ``kernels``' forward pass; ``status[name]`` says ``ok`` or why a route was left out."""
    runners: dict[str, Runner] = {}
    for name in names:
        try:
            runner = prepare(name, run_kernels)
            error = relative_error(runner, kernels, check)
        except Exception as failure:  # a runtime that cannot run this model is reported
            status[name] = f"failed: {type(failure).__name__}: {failure}"[:300]
            continue
        if not error <= TOLERANCE:
            status[name] = f"wrong logits: relative error {error:.2e}"
            continue
        status[name] = "ok"
        runners[name] = runner
    return runners


class Benchmark:
    """Both phases of one run: the dense network's routes first, then every pruned model.

    ``settings`` is the params file's ``benchmark`` section; ``log`` prints progress lines.
    """

    def __init__(self, dense: Kernels, settings: BenchmarkParams,
                 log: Callable[[str], None]) -> None:
        self.settings = settings
        self.log = log
        self.batches, self.check = input_batches(settings.batch_sizes, dense[0].shape[0])
        self.shuffle = random.Random(SEED)
        self.dense_runners = {name: prepare(name, dense) for name in DENSE_ROUTES}
        for name, runner in self.dense_runners.items():
            error = relative_error(runner, dense, self.check)
            if not error <= TOLERANCE:
                raise RuntimeError(f"dense route {name} is wrong: relative error {error:.2e}")
        self.baselines: dict[int, DenseBaselines] = {}

    def _time(self, runners: dict[str, Runner], pool: list[np.ndarray], budget: float) -> Timings:
        settings = self.settings
        return Timer(runners, pool, self.shuffle).run(settings.warmup, settings.repeats, budget)

    def time_dense(self) -> dict[str, Any]:
        """The dense phase: figures per batch size and route, and each batch's fastest."""
        results: dict[str, Any] = {}
        for n, pool in self.batches.items():
            timings = self._time(self.dense_runners, pool, 3 * self.settings.cell_budget_s)
            medians = {name: timings.median(name) for name in self.dense_runners}
            self.baselines[n] = base = DenseBaselines(medians)
            results[str(n)] = {name: timings.figures(name) for name in self.dense_runners}
            results[str(n)]["fastest"] = {
                "route": base.fastest, "latency_ms": medians[base.fastest] * 1e3,
                "library_route": base.library, "library_latency_ms": medians[base.library] * 1e3,
            }
            self.log(f"dense batch {n}: "
                     + ", ".join(f"{name} {value * 1e3:.3f} ms" for name, value in medians.items()))
        return results

    def time_model(self, method: str, k: int, kernels: Kernels,
                   npz_file_bytes: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One pruned model at every batch size: ``{"model": ..., "<batch>": cell}`` and rows."""
        compact_kernels = compact(kernels)
        model = model_figures(kernels, compact_kernels, npz_file_bytes)
        wanted = dict.fromkeys(name for n in self.batches for name in routes_for(method, k, n))
        runners = checked_routes(wanted, kernels, compact_kernels, self.check, model["routes"])
        entry: dict[str, Any] = {"model": model}
        rows: list[dict[str, Any]] = []
        for n, pool in self.batches.items():
            base = self.baselines[n]
            chosen = {name: runners[name] for name in routes_for(method, k, n) if name in runners}
            references = {REFERENCE + name: self.dense_runners[name] for name in base.contenders}
            timings = self._time({**references, **chosen}, pool, self.settings.cell_budget_s)
            row_key = {"method": method, "k": k, "batch": n}
            entry[str(n)], cell_rows = score_cell(timings, base, chosen, model, row_key)
            rows.extend(cell_rows)
        self.log(f"{method}-{k}: " + "; ".join(
            f"b{n} {entry[str(n)]['best']['route']} "
            f"x{entry[str(n)]['best']['speedup_vs_fastest_dense']:.1f}" for n in self.batches))
        return entry, rows


def run_meta(seconds: float, settings: BenchmarkParams) -> dict[str, Any]:
    """The machine, library versions and timing settings of a run, for the JSON's ``meta``."""
    import numba
    import scipy
    import tensorflow as tf

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run
        layer = "none"
    return {
        "seconds": seconds,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "tensorflow": tf.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": layer,
        "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT", ""),
        "gomp_spincount": os.environ.get("GOMP_SPINCOUNT", ""),
        "tf_enable_onednn_spmm": onednn_spmm_enabled(),
        "repeats": settings.repeats,
        "warmup": settings.warmup,
        "min_repeats": timing.MIN_REPEATS,
        "cell_budget_s": settings.cell_budget_s,
        "input": f"uniform [0, 1) float32, seed {SEED}; {INPUT_POOL} distinct batches cycled "
                 f"up to batch {SMALL_BATCH}, one above",
        "rewarm": f"calls under {timing.REWARM_BELOW_S * 1e3:g} ms follow untimed calls of the "
                  f"same route ({timing.REWARM_TIME_S * 1e3:g} ms worth, at most "
                  f"{timing.REWARM_MAX_CALLS})",
    }


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
