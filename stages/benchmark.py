"""Stage benchmark: inference latency of the dense and every timed network, route by route.

The networks are the curves of ``benchmark.curves`` (``weight``, ``unit_refit``, ``weight+ft``,
...), each at the ks of the params section that makes it except k = 0 (the dense network's
shape, timed by the dense phase), for one seed ``--seed`` (the first of ``train.seeds``: timing
does not depend on which), read from ``{pruned-dir}/seed-<s>/<method>/<k>.npz`` (one-shot) or
``{finetuned-dir}/seed-<s>/<schedule>-<method>/<k>.npz`` (the folders are never listed). Inputs:
seeded test images from ``--data`` for every network, and uniform random pixels for
``benchmark.random_input_curves``. Which routes run each network, the inputs, and how the dense
baselines are chosen: :mod:`prunelab.speed.benchmarking`; how a cell is timed (interleaved
shuffled rounds, re-warmed short calls, repeats cut to fit ``benchmark.cell_budget_s``, the dense
phase getting three times it): :mod:`prunelab.speed.timing`. Every row records the number of
timed calls behind its median.

Per row (method = curve name, k, input, batch, route): median latency (and 10th/90th
percentiles); ``speedup_vs_fastest_dense``: the fastest dense route's median call over the route's,
paired by round (the median over the cell's rounds of the two's ratio in that round), with its
spread ``speedup_p10``/``speedup_p90`` and, as a check, ``speedup_vs_pooled_dense`` against
that dense route's median pooled over every cell of the run at that input kind and batch size
(:mod:`prunelab.speed.scoring`); ``speedup_vs_library_dense``: the same
against the fastest dense route of the off-the-shelf runtimes (numpy, TensorFlow, LiteRT -- not
counting the numba pass); ``speedup_vs_same_runtime_dense``: against the fastest dense route of
the route's own runtime; the theoretical MAC reduction of what the route executes (dense MACs
of the full network over the compact network's MACs for dense routes, over its non-zero weights
for sparse routes; :func:`prunelab.stats.sparsity.model_stats`); and the bytes of the model the
route needs, raw (float32 values, int32 CSR indices) and compressed (``np.savez_compressed`` of
the same arrays; :mod:`prunelab.speed.storage`).

Writes, all or nothing: ``--metrics`` JSON nested ``curve -> k -> input -> batch -> route ->
figures`` (plus ``"model"`` figures per k, with the zero input shares per layer and input kind,
and ``"best"`` per cell; ``"dense"`` for the dense phase and ``"meta"``), and ``--csv`` with one
row per (curve, k, input, batch, route); with ``--headlines-dir``, one small JSON per curve and
batch size, ``{"k<k>": speedup of the fastest route on test images}`` (the few timing figures
``dvc metrics`` shows; :func:`prunelab.stats.curves.speed_headlines`).
"""
from __future__ import annotations

import os

# Before numpy, TensorFlow and numba start their thread pools: oneDNN's sparse matmul for the
# tf-csr route (opt-in in TensorFlow 2.21; about twice as fast at batch 1 on this CPU); and idle
# worker threads of OpenBLAS (numpy) and OpenMP (numba) that spin for at most ~0.3 ms after a
# call (2**20 cycles; 100,000 spins) instead of OpenBLAS's ~0.1 s: threads still spinning from
# one route steal a core from the next route timed (a 5 ms numba call took 11 ms right after
# numpy's BLAS, numpy 7 -> 15 ms after numba). Back-to-back calls of one route still find its
# own threads awake.
os.environ.setdefault("TF_ENABLE_ONEDNN_SPMM", "1")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
os.environ.setdefault("GOMP_SPINCOUNT", "100000")

import argparse
import sys
import time
from pathlib import Path

from prunelab.data.datasets import load_test
from prunelab.model.weights import load_kernels
from prunelab.schema.benchmark import BENCHMARK
from prunelab.schema.data import DATA
from prunelab.schema.finetune import FINETUNE
from prunelab.schema.gradual import GRADUAL
from prunelab.schema.lottery import LOTTERY
from prunelab.schema.prune import PRUNE
from prunelab.schema.reconstruct import RECONSTRUCT
from prunelab.schema.scratch import SCRATCH
from prunelab.speed.benchmarking import Benchmark, run_meta
from prunelab.speed.inputs import image_inputs, random_inputs
from prunelab.speed.scoring import csv_table
from prunelab.stats.curves import speed_headlines, timed_networks
from prunelab.wiring.atomic import json_bytes, write_files
from prunelab.wiring.entry import prepare_tensorflow, run_stage
from prunelab.wiring.errors import StageError, WeightsError
from prunelab.wiring.layout import dense_path, finetuned_path, headline_path, pruned_path
from prunelab.wiring.names import parse_curve_name
from prunelab.wiring.params import load_params, parse_seed


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--models", type=Path, required=True, help="folder of seed-<s>/dense.npz")
    parser.add_argument("--pruned-dir", type=Path, required=True,
                        help="folder of seed-<s>/<method>/<k>.npz pruned kernels")
    parser.add_argument("--finetuned-dir", type=Path, required=True,
                        help="folder of seed-<s>/<schedule>-<method>/<k>.npz fine-tuned kernels")
    parser.add_argument("--data", type=Path, required=True,
                        help="folder of the dataset's IDX files (the test images are timed)")
    parser.add_argument("--seed", required=True, help="the seed whose models are timed")
    parser.add_argument("--metrics", type=Path, required=True, help="output JSON")
    parser.add_argument("--csv", type=Path, required=True, help="output CSV, one row per route")
    parser.add_argument("--headlines-dir", type=Path,
                        help="output folder of <method>-b<batch>.json speedup headlines "
                             "(prunelab.stats.curves.speed_headlines), what `dvc metrics` shows")
    args = parser.parse_args(argv)
    return run_stage("benchmark", lambda: benchmark(args, started))


def benchmark(args: argparse.Namespace, started: float) -> None:
    """Load the networks and the test images, time them, write the JSON, the CSV and the
    headlines."""
    params = load_params(
        args.params, DATA, PRUNE, RECONSTRUCT, FINETUNE, GRADUAL, SCRATCH, LOTTERY, BENCHMARK,
    )
    seed = parse_seed("--seed", args.seed, args.params)
    settings = params.benchmark
    paths = {}
    for curve, ks in timed_networks(params).items():
        schedule, method = parse_curve_name(curve)
        for k in ks:
            paths[(curve, k)] = (
                pruned_path(args.pruned_dir, seed, method, k) if schedule is None
                else finetuned_path(args.finetuned_dir, seed, schedule, method, k))
    try:
        dense = load_kernels(dense_path(args.models, seed))
        networks = {key: load_kernels(path) for key, path in paths.items()}
    except WeightsError as error:
        raise StageError(f"cannot read kernels: {error}") from None
    test = load_test(args.data, params.data.test_images)

    def log(message: str) -> None:
        print(f"benchmark [{time.perf_counter() - started:6.1f}s] {message}", flush=True)

    prepare_tensorflow()
    inputs = {"images": image_inputs(test.images, settings.batch_sizes)}
    if settings.random_input_curves:
        inputs["random"] = random_inputs(dense[0].shape[0], settings.batch_sizes)
    run = Benchmark(dense, inputs, settings, log)
    run.time_dense()
    for (curve, k), kernels in networks.items():
        kinds = ["images"] + (["random"] if curve in settings.random_input_curves else [])
        run.add_model(curve, parse_curve_name(curve)[1], k, kernels,
                      paths[(curve, k)].stat().st_size, kinds)
    run.time_models()
    dense_results, results, rows = run.scored()

    meta = run_meta(time.perf_counter() - started, settings)
    document = {"meta": meta, "dense": dense_results, **results}
    files = {args.metrics: json_bytes(document), args.csv: csv_table(rows)}
    if args.headlines_dir:
        files.update({headline_path(args.headlines_dir, stem): json_bytes(row)
                      for stem, row in speed_headlines(document, params).items()})
    write_files(files)
    log(f"wrote {args.metrics} and {args.csv} ({len(rows)} rows)")


if __name__ == "__main__":
    sys.exit(main())
