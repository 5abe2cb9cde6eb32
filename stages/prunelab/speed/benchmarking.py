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

The inputs are :mod:`prunelab.speed.inputs` (``random`` for ``benchmark.random_input_curves``
only); the scoring of a cell's timings, and the CSV, :mod:`prunelab.speed.scoring`.

Timing (:mod:`prunelab.speed.timing`), all in one process, for every input kind and batch size:

1. Dense phase (:meth:`Benchmark.time_dense`): every dense route on the dense network. The
   lowest median is *the fastest dense route* of that input and batch size; the fastest dense
   route of each runtime is that runtime's dense baseline (:class:`DenseBaselines`). It gets
   three times the cell budget.
2. Model phase (:meth:`Benchmark.time_models`): for each network, input kind and batch size,
   interleaved rounds of each dense route (on the dense network) that came within 30 % of
   the fastest in the dense phase, plus the fastest library one, and of each of the
   network's routes; networks of one compact shape on the same routes share their rounds,
   and every cell's rounds come from :data:`PASSES` passes over all networks.
3. Scoring (:meth:`Benchmark.scored`), once every cell is timed: the dense calls of every cell
   are pooled per input kind and batch size, which picks the fastest dense route; each route's
   speedup is that route's median call over the route's, paired by round within the cell, with
   its spread (:mod:`prunelab.speed.scoring`: why paired).
"""

from __future__ import annotations

import os
import platform
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from prunelab.model.forward import forward
from prunelab.schema.benchmark import BenchmarkParams
from prunelab.speed import timing
from prunelab.speed.inputs import INPUT_POOL, SEED, SMALL_BATCH, Inputs, zero_input_shares
from prunelab.speed.limits import cache_levels, layer_bytes, limit_figures
from prunelab.speed.routes.base import Kernels, Runner, compact
from prunelab.speed.routes.registry import DENSE_ROUTES, prepare
from prunelab.speed.routes.tensorflow_ops import onednn_spmm_enabled
from prunelab.speed.scoring import (
    REFERENCE,
    DenseBaselines,
    PooledDense,
    model_figures,
    score_cell,
)
from prunelab.speed.timing import Timer, Timings
from prunelab.wiring.machine import cpu_model

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
#: A route whose logits differ more than this (relative to the largest |logit|) is not timed.
TOLERANCE = 1e-4
#: Passes over the networks in the model phase (:meth:`Benchmark.time_models`: why).
PASSES = 3

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


def relative_error(runner: Runner, kernels: Kernels, batch: np.ndarray) -> float:
    """Largest |difference| to the reference forward pass, relative to the largest |logit|."""
    reference = forward(kernels, batch)
    scale = max(float(np.abs(reference).max()), 1e-6)
    return float(np.abs(runner(batch) - reference).max()) / scale


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


@dataclass
class _Network:
    """A network waiting to be timed: its curve and k, the input kinds it is timed on, its
    figures, its checked routes, and which of them run at each batch size."""

    curve: str
    k: int
    kinds: list[str]
    model: dict[str, Any]
    runners: dict[str, Runner]
    chosen: dict[int, list[str]]


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
        self.cache_levels = cache_levels()
        self.bandwidth: dict[int, float] = {}  # read bandwidth by buffer size (limits)
        self.pooled: dict[tuple[str, int], PooledDense] = {}
        self.dense_results: dict[str, Any] = {}
        self.networks: list[_Network] = []  # added, waiting to be timed
        # Timed cells waiting for the pooled references: (curve, k, kind, batch, timings,
        # routes, model figures).
        self.cells: list[tuple[str, int, str, int, Timings, list[str], dict[str, Any]]] = []

    def _time(self, runners: dict[str, Runner], pool: list[np.ndarray], budget: float) -> Timings:
        settings = self.settings
        return Timer(runners, pool, self.shuffle).run(settings.warmup, settings.repeats, budget)

    def time_dense(self) -> None:
        """The dense phase: figures per input kind, batch size and route, and the dense
        network's zero input shares per kind (the pooled fastest routes follow in
        :meth:`scored`)."""
        results: dict[str, Any] = {"zero_input_share": {
            kind: zero_input_shares(self.dense, inputs.distinct)
            for kind, inputs in self.inputs.items()}}
        for kind, inputs in self.inputs.items():
            for n, pool in inputs.pools.items():
                timings = self._time(self.dense_runners, pool, 3 * self.settings.cell_budget_s)
                medians = {name: timings.median(name) for name in self.dense_runners}
                self.baselines[(kind, n)] = DenseBaselines(medians)
                self.pooled[(kind, n)] = PooledDense(timings)
                cell = {name: timings.figures(name) for name in self.dense_runners}
                results.setdefault(kind, {})[str(n)] = cell
                self.log(f"dense {kind} batch {n}: " + ", ".join(
                    f"{name} {value * 1e3:.3f} ms" for name, value in medians.items()))
        results["nonzero_weights"] = sum(int(np.count_nonzero(w)) for w in self.dense)
        results["limit_batch1"] = self.limits(self.dense, results["zero_input_share"],
                                              {"compact": 4 * sum(w.size for w in self.dense)})
        self.dense_results = results

    def limits(self, compact_kernels: Kernels, zero_shares: dict[str, list[float]],
               stored: dict[str, int]) -> dict[str, Any]:
        """The batch-1 limit on test images (:mod:`prunelab.speed.limits`) per storage of
        ``stored`` (``{storage: bytes}``)."""
        return {storage: limit_figures(compact_kernels, zero_shares["images"], nbytes, storage,
                                       self.cache_levels, self.bandwidth)
                for storage, nbytes in stored.items()}

    def add_model(self, curve: str, method: str, k: int, kernels: Kernels, npz_file_bytes: int,
                  kinds: Iterable[str]) -> None:
        """Prepare one network of ``curve`` (pruned by ``method``) for timing on each input kind
        of ``kinds`` (its compact form, figures and checked routes); :meth:`time_models` times
        every network added."""
        kinds = list(kinds)
        compact_kernels = compact(kernels)
        model = model_figures(kernels, compact_kernels, npz_file_bytes)
        model["zero_input_share"] = {
            kind: zero_input_shares(compact_kernels, self.inputs[kind].distinct) for kind in kinds}
        sparse = method not in UNIT_STRUCTURED and k >= SPARSE_MIN_K
        model["limit_batch1"] = self.limits(compact_kernels, model["zero_input_share"], {
            "compact": model["compact_bytes_raw"],
            **({"csr": sum(layer_bytes(compact_kernels, "csr"))} if sparse else {})})
        batch_sizes = self.settings.batch_sizes
        wanted = dict.fromkeys(name for n in batch_sizes for name in routes_for(method, k, n))
        checks = [self.inputs[kind].check for kind in kinds]
        runners = checked_routes(wanted, kernels, compact_kernels, checks, model["routes"])
        chosen = {n: [name for name in routes_for(method, k, n) if name in runners]
                  for n in batch_sizes}
        self.networks.append(_Network(curve, k, kinds, model, runners, chosen))

    def time_models(self) -> None:
        """Time every added network at every batch size, interleaved with the dense references.

        Networks of one compact shape whose routes are the same (``unit`` and ``unit_refit`` at
        one k, say) are timed together, in the same shuffled rounds, with as many cell budgets
        as there are of them: their medians then meet the same machine state. Timed one after
        another, minutes apart, the same arithmetic on a 2-vCPU AVX2 EPYC gave speedups up to
        two thirds apart, while each one's spread within its cell was a few percent.

        Every group is timed in :data:`PASSES` passes over all groups, each with its share of
        the budget and of ``repeats``, and its rounds are joined: a slow spell of the machine
        (tens of seconds here, slowing small networks more than the dense one) then meets one
        of a group's windows, not all of its rounds, and the medians over rounds outvote it.
        :meth:`scored` turns the timings into figures.
        """
        groups: dict[tuple, list[int]] = {}
        for index, network in enumerate(self.networks):
            key = (tuple(network.model["compact_layer_sizes"]),
                   tuple(tuple(routes) for routes in network.chosen.values()))
            groups.setdefault(key, []).append(index)
        settings = self.settings
        repeats = -(-settings.repeats // PASSES)
        min_repeats = -(-timing.MIN_REPEATS // PASSES)
        joined: dict[tuple[int, str, int], Timings] = {}  # (group, kind, batch): all passes
        for _ in range(PASSES):
            for group, members in enumerate(groups.values()):
                for kind, inputs in self.inputs.items():
                    timed = [i for i in members if kind in self.networks[i].kinds]
                    if not timed:
                        continue
                    for n, pool in inputs.pools.items():
                        runners = {REFERENCE + name: self.dense_runners[name]
                                   for name in self.baselines[(kind, n)].contenders}
                        runners |= {(i, name): self.networks[i].runners[name]
                                    for i in timed for name in self.networks[i].chosen[n]}
                        before = joined.get((group, kind, n))
                        timings = Timer(runners, pool, self.shuffle).run(
                            settings.warmup, repeats,
                            len(timed) * settings.cell_budget_s / PASSES,
                            before.per_round if before else None, min_repeats)
                        joined[(group, kind, n)] = before.joined(timings) if before else timings
        cells: dict[tuple[int, str, int], Timings] = {}
        for group, members in enumerate(groups.values()):
            fastest = []
            for kind in self.inputs:
                for n in self.inputs[kind].pools:
                    if (group, kind, n) not in joined:
                        continue
                    timings = joined[(group, kind, n)]
                    shared = {key: values for key, values in timings.samples.items()
                              if isinstance(key, str)}
                    self.pooled[(kind, n)].add_cell(Timings(shared))
                    for i in members:
                        network = self.networks[i]
                        if kind not in network.kinds:
                            continue
                        own = {name: timings.samples[(i, name)] for name in network.chosen[n]}
                        per_round = {key: timings.per_round[key] for key in shared}
                        per_round |= {name: timings.per_round[(i, name)] for name in own}
                        cells[(i, kind, n)] = Timings({**shared, **own}, per_round)
                        if own:
                            best = min(own, key=cells[(i, kind, n)].median)
                            fastest.append(f"{network.curve}-{network.k} {kind} b{n} {best} "
                                           f"{cells[(i, kind, n)].median(best) * 1e3:.4f} ms")
            self.log("; ".join(fastest))
        self.cells = [(network.curve, network.k, kind, n, cells[(i, kind, n)],
                       network.chosen[n], network.model)
                      for i, network in enumerate(self.networks)
                      for kind in self.inputs if kind in network.kinds
                      for n in self.inputs[kind].pools]

    def scored(self) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        """The dense phase's figures with each input kind and batch size's pooled fastest
        dense routes, ``{curve: {k: {"model": ..., "<kind>": {"<batch>": cell}}}}``, and the
        CSV rows."""
        for (kind, n), pooled in self.pooled.items():
            base = pooled.baselines()
            self.dense_results[kind][str(n)]["fastest"] = {
                "route": base.fastest, "latency_ms": base.medians[base.fastest] * 1e3,
                "library_route": base.library,
                "library_latency_ms": base.medians[base.library] * 1e3,
                "timed_calls": len(pooled.samples[base.fastest]),
            }
        rng = np.random.default_rng(SEED)
        results: dict[str, Any] = {}
        rows: list[dict[str, Any]] = []
        for curve, k, kind, n, timings, chosen, model in self.cells:
            row_key = {"method": curve, "k": k, "input": kind, "batch": n}
            cell, cell_rows = score_cell(timings, self.pooled[(kind, n)], chosen, model,
                                         row_key, rng)
            entry = results.setdefault(curve, {}).setdefault(str(k), {"model": model})
            entry.setdefault(kind, {})[str(n)] = cell
            rows.extend(cell_rows)
        return self.dense_results, results, rows


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
        "cache_bytes": cache_levels(),
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
