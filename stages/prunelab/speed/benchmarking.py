"""What the benchmark stage times, on which inputs, and how it turns timings into speedups.

Every timed network (a curve of ``benchmark.curves`` at one k) is first made compact (dead
hidden units physically removed, :func:`prunelab.speed.routes.base.compact`), then run by the
routes of :mod:`prunelab.speed.routes` that suit its structure (:func:`routes_for`):

* the unit-structured curves (:data:`UNIT_STRUCTURED` methods, fine-tuned or not), and weight
  structure below ``k = 50`` (CSR would be larger than the dense matrices): the dense routes on
  the compact network -- for unit structure a genuinely smaller dense network (numpy with 2 and 1
  BLAS threads, the Keras model in TensorFlow, LiteRT, and the numba pass up to batch 256,
  beyond which BLAS wins by design);
* weight structure from ``k = 50``: the sparse routes worth trying at that sparsity --
  ``numba-csr`` and ``scipy-csr`` always, ``tf-csr`` from 70, ``tf-sparse`` from 90 (at batches
  above 256 only from 97: single-threaded, it is ~10x slower than dense there), and
  ``litert-sparse`` from 95 (below, LiteRT densifies a random pattern when it loads).

Inputs (:func:`image_inputs`, :func:`random_inputs`), the same for every route and network:
``images``, a seeded choice of test images, what a deployed network meets (half the pixels are
zero, and ReLU zeroes most hidden activations: the ``numba`` and ``numba-csr`` kernels skip zero
activations); and ``random``, seeded uniform [0, 1) pixels with no zero at all, the stress case,
for ``benchmark.random_input_curves`` only. Small batches cycle through :data:`INPUT_POOL`
distinct batches, so no route can learn one input's branch pattern by heart. Per network and
input kind, :func:`zero_input_shares` measures the share of zero inputs of every layer.

Timing (:mod:`prunelab.speed.timing`), all in one process, for every input kind and batch size:

1. Dense phase (:meth:`Benchmark.time_dense`): every dense route on the dense network. The
   lowest median is *the fastest dense route* of that input and batch size; the fastest dense
   route of each runtime is that runtime's dense baseline (:class:`DenseBaselines`). It gets
   three times the cell budget.
2. Model phase (:meth:`Benchmark.time_model`): for each network, input kind and batch size,
   rounds of one call of each dense route (on the dense network) that came within 30 % (or 1 ms)
   of the fastest in the dense phase, plus the fastest library one, and of each of the
   network's routes. The fastest dense route of the cell is the one with the lowest median there
   (:func:`score_cell`): every speedup compares routes on the same inputs in the same rounds.
"""

from __future__ import annotations

import csv
import io
import os
import platform
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
#: The input kinds, in the order they are timed and reported (module docstring).
INPUT_KINDS = ("images", "random")
#: Rows of the routes' logit check on each input kind.
CHECK_ROWS = 8
#: The pruning methods that remove whole units: their networks are small dense ones.
UNIT_STRUCTURED = ("unit", "unit_refit")
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

def routes_for(method: str, k: int, batch: int) -> tuple[str, ...]:
    """The routes benchmarked for a network pruned by ``method`` (fine-tuned or not) at ``k``, at
    one batch size (module docstring: why)."""
    if method in UNIT_STRUCTURED or k < SPARSE_MIN_K:
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


@dataclass(frozen=True)
class Inputs:
    """One input kind: the pools of batches per batch size, the check batch of the routes'
    logits, and every distinct input in the pools (for :func:`zero_input_shares`)."""

    kind: str
    pools: dict[int, list[np.ndarray]]
    check: np.ndarray
    distinct: np.ndarray


def pool_size(batch: int) -> int:
    """Distinct batches cycled through at one batch size."""
    return INPUT_POOL if batch <= SMALL_BATCH else 1


def _pooled(kind: str, rows: np.ndarray, batch_sizes: tuple[int, ...]) -> Inputs:
    """Every batch size's pool cut from the front of ``rows`` (so small pools share inputs)."""
    pools = {n: list(rows[: pool_size(n) * n].reshape(pool_size(n), n, rows.shape[1]))
             for n in batch_sizes}
    return Inputs(kind, pools, rows[:CHECK_ROWS], rows)


def inputs_needed(batch_sizes: tuple[int, ...]) -> int:
    """Distinct inputs the largest pool needs (at least the check batch)."""
    return max([CHECK_ROWS] + [pool_size(n) * n for n in batch_sizes])


def image_inputs(images: np.ndarray, batch_sizes: tuple[int, ...]) -> Inputs:
    """A seeded choice of ``images`` (the test split, ``(n, pixels)`` in [0, 1]): distinct images
    while the split has enough, else drawn with replacement."""
    needed = inputs_needed(batch_sizes)
    chosen = np.random.default_rng(SEED).choice(len(images), needed, replace=needed > len(images))
    return _pooled("images", np.ascontiguousarray(images[chosen], np.float32), batch_sizes)


def random_inputs(pixels: int, batch_sizes: tuple[int, ...]) -> Inputs:
    """Seeded uniform [0, 1) pixels: no pixel is zero."""
    rng = np.random.default_rng(SEED)
    rows = rng.random((inputs_needed(batch_sizes), pixels), dtype=np.float32)
    return _pooled("random", rows, batch_sizes)


def zero_input_shares(kernels: Kernels, inputs: np.ndarray) -> list[float]:
    """Per layer, the share of exactly zero values among the inputs it multiplies: the pixels,
    then each hidden layer's ReLU outputs (the network's own units, as ``kernels`` has them)."""
    shares = []
    activations = inputs.astype(np.float32)
    for index, kernel in enumerate(kernels):
        shares.append(float(np.mean(activations == 0.0)) if activations.size else 0.0)
        if index < len(kernels) - 1:
            activations = np.maximum(activations @ kernel, np.float32(0.0))
    return shares


def checked_routes(names: Iterable[str], kernels: Kernels, run_kernels: Kernels,
                   checks: Iterable[np.ndarray], status: dict[str, str]) -> dict[str, Runner]:
    """The routes of ``names`` prepared on ``run_kernels`` whose logits on every batch of
    ``checks`` match ``kernels``' forward pass; ``status[name]`` says ``ok`` or why a route was
    left out."""
    checks = list(checks)
    runners: dict[str, Runner] = {}
    for name in names:
        try:
            runner = prepare(name, run_kernels)
            error = max(relative_error(runner, kernels, check) for check in checks)
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
    """Both phases of one run: the dense network's routes first, then every pruned network.

    ``inputs`` maps each input kind to its :class:`Inputs`; ``settings`` is the params file's
    ``benchmark`` section; ``log`` prints progress lines.
    """

    def __init__(self, dense: Kernels, inputs: dict[str, Inputs], settings: BenchmarkParams,
                 log: Callable[[str], None]) -> None:
        self.settings = settings
        self.log = log
        self.inputs = inputs
        self.shuffle = random.Random(SEED)
        self.dense = dense
        self.dense_runners = {name: prepare(name, dense) for name in DENSE_ROUTES}
        for name, runner in self.dense_runners.items():
            for kind in inputs.values():
                error = relative_error(runner, dense, kind.check)
                if not error <= TOLERANCE:
                    raise RuntimeError(f"dense route {name} is wrong on {kind.kind} inputs: "
                                       f"relative error {error:.2e}")
        self.baselines: dict[tuple[str, int], DenseBaselines] = {}

    def _time(self, runners: dict[str, Runner], pool: list[np.ndarray], budget: float) -> Timings:
        settings = self.settings
        return Timer(runners, pool, self.shuffle).run(settings.warmup, settings.repeats, budget)

    def time_dense(self) -> dict[str, Any]:
        """The dense phase: figures per input kind, batch size and route, each cell's fastest,
        and the dense network's zero input shares per kind."""
        results: dict[str, Any] = {"zero_input_share": {
            kind: zero_input_shares(self.dense, inputs.distinct)
            for kind, inputs in self.inputs.items()}}
        for kind, inputs in self.inputs.items():
            for n, pool in inputs.pools.items():
                timings = self._time(self.dense_runners, pool, 3 * self.settings.cell_budget_s)
                medians = {name: timings.median(name) for name in self.dense_runners}
                self.baselines[(kind, n)] = base = DenseBaselines(medians)
                cell = {name: timings.figures(name) for name in self.dense_runners}
                cell["fastest"] = {
                    "route": base.fastest, "latency_ms": medians[base.fastest] * 1e3,
                    "library_route": base.library,
                    "library_latency_ms": medians[base.library] * 1e3,
                }
                results.setdefault(kind, {})[str(n)] = cell
                self.log(f"dense {kind} batch {n}: " + ", ".join(
                    f"{name} {value * 1e3:.3f} ms" for name, value in medians.items()))
        return results

    def time_model(self, curve: str, method: str, k: int, kernels: Kernels, npz_file_bytes: int,
                   kinds: Iterable[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One network of ``curve`` (pruned by ``method``) at every batch size, on each input
        kind of ``kinds``: ``{"model": ..., "<kind>": {"<batch>": cell}}`` and the CSV rows."""
        kinds = list(kinds)
        compact_kernels = compact(kernels)
        model = model_figures(kernels, compact_kernels, npz_file_bytes)
        model["zero_input_share"] = {
            kind: zero_input_shares(compact_kernels, self.inputs[kind].distinct) for kind in kinds}
        batch_sizes = self.settings.batch_sizes
        wanted = dict.fromkeys(name for n in batch_sizes for name in routes_for(method, k, n))
        checks = [self.inputs[kind].check for kind in kinds]
        runners = checked_routes(wanted, kernels, compact_kernels, checks, model["routes"])
        entry: dict[str, Any] = {"model": model}
        rows: list[dict[str, Any]] = []
        for kind in kinds:
            for n, pool in self.inputs[kind].pools.items():
                base = self.baselines[(kind, n)]
                chosen = {name: runners[name] for name in routes_for(method, k, n)
                          if name in runners}
                references = {REFERENCE + name: self.dense_runners[name]
                              for name in base.contenders}
                timings = self._time({**references, **chosen}, pool, self.settings.cell_budget_s)
                row_key = {"method": curve, "k": k, "input": kind, "batch": n}
                cell, cell_rows = score_cell(timings, base, chosen, model, row_key)
                entry.setdefault(kind, {})[str(n)] = cell
                rows.extend(cell_rows)
        self.log(f"{curve}-{k}: " + "; ".join(
            f"{kind} b{n} {entry[kind][str(n)]['best']['route']} "
            f"x{entry[kind][str(n)]['best']['speedup_vs_fastest_dense']:.1f}"
            for kind in kinds for n in batch_sizes))
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
        "inputs": f"images: test images chosen with seed {SEED}; random: uniform [0, 1) "
                  f"float32, seed {SEED}; {INPUT_POOL} distinct batches cycled up to batch "
                  f"{SMALL_BATCH}, one above",
        "random_input_curves": list(settings.random_input_curves),
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
