"""Stage benchmark: inference latency of the dense and every pruned network, route by route.

The models are exactly ``benchmark.methods`` x ``prune.ks`` of the params file, for one seed
``--seed`` (the first of ``train.seeds``: timing does not depend on which), read from
``{pruned-dir}/seed-<s>/{method}/{k}.npz`` (the folder is never listed). Every pruned network is first
made compact (dead hidden units physically removed, :func:`prunelab.sparse_exec.compact`), then
run by the routes of :mod:`prunelab.sparse_exec` that suit it (:func:`routes_for`):

* unit pruning, and weight pruning below ``k = 50`` (CSR would be larger than the dense
  matrices): the dense routes on the compact network -- for unit pruning a genuinely smaller
  dense network (numpy with 2 and 1 BLAS threads, the Keras model in TensorFlow, LiteRT, and the
  numba pass up to batch 256, beyond which BLAS wins by design);
* weight pruning from ``k = 50``: the sparse routes worth trying at that sparsity --
  ``numba-csr`` and ``scipy-csr`` always, ``tf-csr`` from 70, ``tf-sparse`` from 90 (at batches
  above 256 only from 97: single-threaded, it is ~10x slower than dense there), and
  ``litert-sparse`` from 95 (below, LiteRT densifies a random pattern when it loads).

Timing, all in this one process, for every batch size of ``benchmark.batch_sizes`` (inputs are
seeded uniform [0, 1) pixels, the same for every route; no zero pixels, the worst case for the
routes that skip zero activations):

1. Dense phase: every dense route on the dense network, called in rounds (one call of each, in
   a freshly shuffled order per round): ``benchmark.warmup`` untimed rounds, then up to
   ``benchmark.repeats`` timed ones. The lowest median is *the fastest dense route* of that
   batch size; the fastest dense route of each runtime is that runtime's dense baseline.
2. Model phase: for each model and batch size, rounds of one call of each dense route (on the
   dense network) that came within 30 % (or 1 ms) of the fastest in the dense phase, plus the
   fastest library one, and of each of the model's routes, shuffled per round. The fastest
   dense route of the cell is the one with the lowest median there.
   Interleaving makes drift (clock, other processes) hit both sides of every ratio alike;
   shuffling spreads the after-effects of one call on the next (BLAS threads still spinning)
   evenly, and the worker threads of OpenBLAS and numba's OpenMP are told to stop spinning
   within ~0.3 ms of their last call (see the environment set at the top). A call
   shorter than ``REWARM_BELOW_S`` is preceded by a few untimed calls of the same route, so
   that every route is timed "hot" (its weights in cache and its branches predicted, as when it
   serves alone) while rounds still interleave. Small batches cycle through ``INPUT_POOL``
   distinct inputs, so no route can learn one input's branch pattern by heart.

Repeats adapt to slow cases so that a default run stays within about three minutes on two
cores: a cell (one batch size of the dense phase, or one model x batch size) gets
``min(repeats, max(MIN_REPEATS, budget // round time))`` timed rounds, the round time being
estimated from the warm-up, and a route whose first call takes longer than ``SLOW_CALL_S`` gets
no further warm-up calls. ``benchmark.cell_budget_s`` sets the budget (the dense phase gets three times
it). Every row records the number of timed calls behind its median.

Per row (method, k, batch, route): median latency (and 10th/90th percentiles);
``speedup_vs_fastest_dense``: the cell's fastest dense median / the route's median;
``speedup_vs_library_dense``: the same against the fastest dense route of the off-the-shelf
runtimes (numpy, TensorFlow, LiteRT -- not counting the numba pass); and
``speedup_vs_same_runtime_dense``: against the dense baseline of the route's own runtime (taken
from the cell when it was re-timed there, else from its dense-phase ratio to the cell's fastest
dense route); the theoretical MAC reduction
of what the route executes (dense MACs of the full network over the compact network's MACs for
dense routes, over its non-zero weights for sparse routes); and the bytes of the model the route
needs, raw (float32 values, int32 CSR indices) and compressed (``np.savez_compressed`` of the
same arrays).

Writes, all or nothing: ``--metrics`` JSON nested ``method -> k -> batch -> route -> figures``
(plus ``"model"`` figures per k and ``"best"`` per batch, ``"dense"`` for the dense phase and
``"meta"``), and ``--csv`` with one row per (method, k, batch, route); with ``--headlines-dir``,
one small JSON per method and batch size, ``{"k<k>": speedup of the fastest route}`` (the few
timing figures ``dvc metrics`` shows; :func:`prunelab.curves.speed_headlines`).
"""

from __future__ import annotations

import os

# Before numpy, TensorFlow and numba start their thread pools: quieter TensorFlow; oneDNN's
# sparse matmul for the tf-csr route (opt-in in TensorFlow 2.21; about twice as fast at batch 1
# on this CPU); and idle worker threads of OpenBLAS (numpy) and OpenMP (numba) that spin for at
# most ~0.3 ms after a call (2**20 cycles; 100,000 spins) instead of OpenBLAS's ~0.1 s: threads
# still spinning from one route steal a core from the next route timed (a 5 ms numba call took
# 11 ms right after numpy's BLAS, numpy 7 -> 15 ms after numba). Back-to-back calls of one route
# still find its own threads awake.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_SPMM", "1")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
os.environ.setdefault("GOMP_SPINCOUNT", "100000")

import argparse
import csv
import gc
import io
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from prunelab import sparse_exec
from prunelab.atomic import json_bytes, write_files
from prunelab.curves import speed_headlines
from prunelab.layout import dense_path, pruned_path
from prunelab.params import ParamsError, load_params, parse_seed
from prunelab.sparsity import model_stats
from prunelab.weights import WeightsError, forward, load_kernels

MIN_REPEATS = 5
SLOW_CALL_S = 0.05
#: Calls faster than this get untimed calls of the same route just before the timed one
#: (enough to fill REWARM_TIME_S, at most REWARM_MAX_CALLS), so they are timed in the state of a
#: route serving alone -- weights in cache, branch predictors trained on its code -- not right
#: after other routes evicted that (up to 3x slower at batch 1 here, TensorFlow calls worst).
REWARM_BELOW_S = 0.02
REWARM_TIME_S = 0.002
REWARM_MAX_CALLS = 100
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
            name
            for name in sparse_exec.DENSE_ROUTES
            if name != "numba" or batch <= NUMBA_DENSE_MAX_BATCH
        )
    routes = ["numba-csr", "scipy-csr"]
    if k >= 70:
        routes.append("tf-csr")
    if k >= 90 and (batch <= TF_SPARSE_MAX_BATCH or k >= 97):
        routes.append("tf-sparse")
    if k >= 95:
        routes.append("litert-sparse")
    return tuple(routes)


class Timer:
    """Rounds of one timed call per runner, shuffled per round; medians of the timed calls.

    Calls cycle through ``inputs`` (several distinct batches of one size), so that routes whose
    branches depend on the data (zero-skipping) cannot learn one input by heart.
    """

    def __init__(self, runners: dict[str, sparse_exec.Runner], inputs: list[np.ndarray],
                 shuffle: random.Random) -> None:
        self.runners = runners
        self.inputs = inputs
        self.shuffle = shuffle
        self.samples: dict[str, list[float]] = {name: [] for name in runners}
        self._next = dict.fromkeys(runners, 0)

    def run(self, warmup: int, repeats: int, budget_s: float) -> None:
        """Warm up, size the number of rounds from the warm-up times, then time the rounds."""
        first = {name: self._call(name) for name in self.runners}
        latest = dict(first)
        extra = {name: 0 if first[name] > SLOW_CALL_S else max(0, warmup - 1) for name in first}
        for round_index in range(max(extra.values(), default=0)):
            for name in self._order():
                if round_index < extra[name]:
                    latest[name] = self._call(name)
        call_s = {name: min(first[name], latest[name]) for name in first}
        rewarm = {name: self._rewarm_calls(call_s[name]) for name in first}
        round_s = sum(call_s[name] * (1 + rewarm[name]) for name in first)
        rounds = min(repeats, max(MIN_REPEATS, int(budget_s / max(round_s, 1e-9))))
        gc.disable()
        try:
            for _ in range(rounds):
                for name in self._order():
                    for _ in range(rewarm[name]):
                        self._call(name)
                    self.samples[name].append(self._call(name))
        finally:
            gc.enable()

    @staticmethod
    def _rewarm_calls(call_s: float) -> int:
        if call_s >= REWARM_BELOW_S:
            return 0
        return min(REWARM_MAX_CALLS, max(1, int(REWARM_TIME_S / max(call_s, 1e-9))))

    def _order(self) -> list[str]:
        names = list(self.runners)
        self.shuffle.shuffle(names)
        return names

    def _call(self, name: str) -> float:
        batch = self.inputs[self._next[name] % len(self.inputs)]
        self._next[name] += 1
        start = time.perf_counter()
        self.runners[name](batch)
        return time.perf_counter() - start

    def median(self, name: str) -> float:
        return float(np.median(self.samples[name]))

    def figures(self, name: str) -> dict[str, Any]:
        values = np.asarray(self.samples[name]) * 1e3
        return {
            "latency_ms": float(np.median(values)),
            "latency_p10_ms": float(np.percentile(values, 10)),
            "latency_p90_ms": float(np.percentile(values, 90)),
            "timed_calls": int(values.size),
        }


def storage_figures(kernels: list[np.ndarray], compact: list[np.ndarray]) -> dict[str, int]:
    """Bytes of the model stored dense, compact (shrunk) and as CSR, raw and compressed."""
    return {
        "dense_bytes_raw": int(sum(k.size for k in kernels) * 4),
        "compact_bytes_raw": int(sum(k.size for k in compact) * 4),
        "compact_bytes_compressed": sparse_exec.compressed_bytes(
            {f"kernel_{i}": k for i, k in enumerate(compact)}
        ),
        "csr_bytes_raw": sparse_exec.csr_bytes(compact),
        "csr_bytes_compressed": sparse_exec.compressed_bytes(sparse_exec.csr_arrays(compact)),
    }


def relative_error(
    runner: sparse_exec.Runner, kernels: list[np.ndarray], batch: np.ndarray
) -> float:
    """Largest |difference| to the reference forward pass, relative to the largest |logit|."""
    reference = forward(kernels, batch)
    scale = max(float(np.abs(reference).max()), 1e-6)
    return float(np.abs(runner(batch) - reference).max()) / scale


class DenseBaselines:
    """Dense-phase medians of one batch size and the baselines derived from them."""

    def __init__(self, medians: dict[str, float]) -> None:
        self.medians = medians
        self.fastest = min(medians, key=medians.get)
        self.by_runtime: dict[str, str] = {}
        for name in sorted(medians, key=medians.get):
            self.by_runtime.setdefault(sparse_exec.ROUTES[name].runtime, name)
        library = [n for n in medians if is_library(n)]
        self.library = min(library, key=medians.get) if library else self.fastest
        # Routes close enough to the fastest that noise in this phase could have ranked them
        # wrong: each model cell re-times all of them, interleaved, and takes the best there.
        cutoff = max(REF_SLACK * medians[self.fastest], medians[self.fastest] + REF_ABS_S)
        self.contenders = [n for n in medians if medians[n] <= cutoff or n == self.library]


def is_library(name: str) -> bool:
    return sparse_exec.ROUTES[name].runtime in LIBRARY_DENSE_RUNTIMES


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--models", type=Path, required=True, help="folder of seed-<s>/dense.npz")
    parser.add_argument("--pruned-dir", type=Path, required=True,
                        help="folder of seed-<s>/<method>/<k>.npz pruned kernels")
    parser.add_argument("--seed", required=True, help="the seed whose models are timed")
    parser.add_argument("--metrics", type=Path, required=True, help="output JSON")
    parser.add_argument("--csv", type=Path, required=True, help="output CSV, one row per route")
    parser.add_argument("--headlines-dir", type=Path,
                        help="output folder of <method>-b<batch>.json speedup headlines "
                             "(prunelab.curves.speed_headlines), what `dvc metrics` shows")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        seed = parse_seed("--seed", args.seed, params["train"]["seeds"])
    except ParamsError as error:
        print(f"benchmark: error: {error}", file=sys.stderr)
        return 1
    settings = params["benchmark"]
    methods, ks = settings["methods"], params["prune"]["ks"]
    paths = {(m, k): pruned_path(args.pruned_dir, seed, m, k) for m in methods for k in ks}
    try:
        dense = load_kernels(dense_path(args.models, seed))
        pruned = {key: load_kernels(path) for key, path in paths.items()}
    except WeightsError as error:
        print(f"benchmark: error: cannot read kernels: {error}", file=sys.stderr)
        return 1

    rng = np.random.default_rng(SEED)
    shuffle = random.Random(SEED)
    inputs = dense[0].shape[0]
    batches = {
        n: list(rng.random((INPUT_POOL if n <= SMALL_BATCH else 1, n, inputs), dtype=np.float32))
        for n in settings["batch_sizes"]
    }
    check_batch = rng.random((8, inputs), dtype=np.float32)
    budget = settings["cell_budget_s"]

    def log(message: str) -> None:
        print(f"benchmark [{time.perf_counter() - started:6.1f}s] {message}", flush=True)

    # ---- dense phase ---------------------------------------------------------------------------
    dense_runners = {name: sparse_exec.prepare(name, dense) for name in sparse_exec.DENSE_ROUTES}
    for name, runner in dense_runners.items():
        error = relative_error(runner, dense, check_batch)
        if not error <= TOLERANCE:
            raise RuntimeError(f"dense route {name} is wrong: relative error {error:.2e}")
    baselines: dict[int, DenseBaselines] = {}
    dense_results: dict[str, Any] = {}
    for n, pool in batches.items():
        timer = Timer(dense_runners, pool, shuffle)
        timer.run(settings["warmup"], settings["repeats"], 3 * budget)
        baselines[n] = base = DenseBaselines({name: timer.median(name) for name in dense_runners})
        dense_results[str(n)] = {name: timer.figures(name) for name in dense_runners}
        dense_results[str(n)]["fastest"] = {
            "route": base.fastest, "latency_ms": base.medians[base.fastest] * 1e3,
            "library_route": base.library, "library_latency_ms": base.medians[base.library] * 1e3,
        }
        log(f"dense batch {n}: "
            + ", ".join(f"{name} {value * 1e3:.3f} ms" for name, value in base.medians.items()))

    # ---- model phase ---------------------------------------------------------------------------
    results: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    dense_macs = sum(int(a.size) for a in dense)
    for (method, k), kernels in pruned.items():
        compact = sparse_exec.compact(kernels)
        store = storage_figures(kernels, compact)
        sparse_macs = sum(int(np.count_nonzero(a)) for a in compact)
        compact_macs = sum(int(a.size) for a in compact)
        model: dict[str, Any] = {
            "compact_layer_sizes": [int(compact[0].shape[0])] + [int(a.shape[1]) for a in compact],
            "nonzero_weights": sparse_macs,
            "effective_sparsity": model_stats(kernels)["effective_sparsity"],
            "mac_reduction_compact": dense_macs / compact_macs if compact_macs else None,
            "mac_reduction_sparse": dense_macs / sparse_macs if sparse_macs else None,
            "npz_file_bytes": paths[(method, k)].stat().st_size,
            **store,
            "routes": {},
        }
        runners: dict[str, sparse_exec.Runner] = {}
        wanted = dict.fromkeys(name for n in batches for name in routes_for(method, k, n))
        for name in wanted:
            try:
                runner = sparse_exec.prepare(name, compact)
                error = relative_error(runner, kernels, check_batch)
            except Exception as failure:  # a runtime that cannot run this model is reported
                model["routes"][name] = f"failed: {type(failure).__name__}: {failure}"[:300]
                continue
            if not error <= TOLERANCE:
                model["routes"][name] = f"wrong logits: relative error {error:.2e}"
                continue
            model["routes"][name] = "ok"
            runners[name] = runner
        entry: dict[str, Any] = {"model": model}
        for n, pool in batches.items():
            base = baselines[n]
            chosen = {name: runners[name] for name in routes_for(method, k, n) if name in runners}
            references = {REFERENCE + name: dense_runners[name] for name in base.contenders}
            timer = Timer({**references, **chosen}, pool, shuffle)
            timer.run(settings["warmup"], settings["repeats"], budget)
            dense_ms = {name: timer.median(REFERENCE + name) for name in base.contenders}
            fastest = min(dense_ms, key=dense_ms.get)
            library_name = min((n for n in dense_ms if is_library(n)), key=dense_ms.get)
            reference, library = dense_ms[fastest], dense_ms[library_name]
            cell: dict[str, Any] = {
                "fastest_dense": {"route": fastest, **timer.figures(REFERENCE + fastest)},
                "library_dense": {"route": library_name,
                                  **timer.figures(REFERENCE + library_name)},
            }
            best = {"route": None, "speedup_vs_fastest_dense": 0.0, "speedup_vs_library_dense": 0.0}
            for name in chosen:
                route = sparse_exec.ROUTES[name]
                median = timer.median(name)
                speedup = reference / median
                # The runtime's own dense baseline: its fastest dense route re-timed in this cell
                # if any was, else the dense phase's, scaled by its ratio to the cell's fastest.
                retimed = [n for n in dense_ms if sparse_exec.ROUTES[n].runtime == route.runtime]
                if retimed:
                    same = min(retimed, key=dense_ms.get)
                    same_s = dense_ms[same]
                else:
                    same = base.by_runtime.get(route.runtime, fastest)
                    same_s = reference * base.medians[same] / base.medians[fastest]
                sparse = route.storage == "sparse"
                macs = sparse_macs if sparse else compact_macs
                figures = {
                    **timer.figures(name),
                    "speedup_vs_fastest_dense": speedup,
                    "speedup_vs_library_dense": library / median,
                    "speedup_vs_same_runtime_dense": same_s / median,
                    "library_dense_route": library_name,
                    "same_runtime_dense_route": same,
                    "mac_reduction": dense_macs / macs if macs else None,
                    "model_bytes_raw": store["csr_bytes_raw" if sparse else "compact_bytes_raw"],
                    "model_bytes_compressed": store[
                        "csr_bytes_compressed" if sparse else "compact_bytes_compressed"
                    ],
                }
                cell[name] = figures
                rows.append({
                    "method": method, "k": k, "batch": n, "route": name,
                    "runtime": route.runtime, "storage": route.storage,
                    "fastest_dense_route": fastest, "fastest_dense_ms": reference * 1e3,
                    "library_dense_ms": library * 1e3,
                    **figures,
                })
                if speedup > best["speedup_vs_fastest_dense"]:
                    best = {"route": name, "speedup_vs_fastest_dense": speedup,
                            "speedup_vs_library_dense": figures["speedup_vs_library_dense"]}
            cell["best"] = best
            entry[str(n)] = cell
        results.setdefault(method, {})[str(k)] = entry
        log(f"{method}-{k}: " + "; ".join(
            f"b{n} {entry[str(n)]['best']['route']} "
            f"x{entry[str(n)]['best']['speedup_vs_fastest_dense']:.1f}" for n in batches))

    document = {"meta": _meta(started, settings, budget), "dense": dense_results, **results}
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_value(row.get(key)) for key in CSV_COLUMNS})
    files = {args.metrics: json_bytes(document), args.csv: table.getvalue().encode()}
    if args.headlines_dir:
        files.update({args.headlines_dir / f"{stem}.json": json_bytes(row)
                      for stem, row in speed_headlines(document, params).items()})
    write_files(files)
    log(f"wrote {args.metrics} and {args.csv} ({len(rows)} rows)")
    return 0


def _meta(started: float, settings: dict[str, Any], budget: float) -> dict[str, Any]:
    import numba
    import scipy
    import tensorflow as tf

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run
        layer = "none"
    return {
        "seconds": time.perf_counter() - started,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "tensorflow": tf.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": layer,
        "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT", ""),
        "gomp_spincount": os.environ.get("GOMP_SPINCOUNT", ""),
        "tf_enable_onednn_spmm": sparse_exec.onednn_spmm_enabled(),
        "repeats": settings["repeats"],
        "warmup": settings["warmup"],
        "min_repeats": MIN_REPEATS,
        "cell_budget_s": budget,
        "input": f"uniform [0, 1) float32, seed {SEED}; {INPUT_POOL} distinct batches cycled "
                 f"up to batch {SMALL_BATCH}, one above",
        "rewarm": f"calls under {REWARM_BELOW_S * 1e3:g} ms follow untimed calls of the same "
                  f"route ({REWARM_TIME_S * 1e3:g} ms worth, at most {REWARM_MAX_CALLS})",
    }


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


if __name__ == "__main__":
    sys.exit(main())
