"""Where batch 1's time goes for the frontier's answer networks: the kernel, the call, the
benchmark, against what their bytes allow.

    python tools/batch1_breakdown.py            # after `dvc repro`; on a quiet machine

For the networks of the limits table in ``metrics/frontier.md`` (the dense network and each
batch-1 answer), on the benchmark's test-image inputs (the first seed's networks, dead units
removed, the route the benchmark chose), four latencies per image:

- **kernel**: the compiled pass alone, called from a compiled loop cycling through the
  benchmark's 16 input images (no Python; weights stay in cache);
- **call**: the route's runner called from a Python loop, as a user calls it (adds numba's
  dispatch, the batch check and the output array);
- **benchmark**: the committed benchmark's median (``metrics/benchmark.json``: interleaved with
  the other routes and networks, re-warmed before each timed call; the dense one pooled);
- **limit**: what the bytes allow (``limit_batch1`` of the same file).

Each of kernel and call is the median over :data:`REPEATS` timings of :data:`CALLS` calls.
Writes ``metrics/stability/batch1-breakdown.md`` and ``.json``, naming the CPU: a measurement
of one machine, committed beside the run it explains, not a pipeline stage.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
from prunelab.data.datasets import load_test  # noqa: E402
from prunelab.model.weights import load_kernels  # noqa: E402
from prunelab.schema.data import DATA  # noqa: E402
from prunelab.schema.train import TRAIN  # noqa: E402
from prunelab.speed.inputs import image_inputs  # noqa: E402
from prunelab.speed.routes import numba_kernels  # noqa: E402
from prunelab.speed.routes.base import compact, layer_sizes  # noqa: E402
from prunelab.speed.routes.numba_fused import PackedCSR, dense_operands  # noqa: E402
from prunelab.speed.routes.registry import prepare  # noqa: E402
from prunelab.wiring.atomic import json_bytes, write_files  # noqa: E402
from prunelab.wiring.layout import dense_path, finetuned_path, pruned_path  # noqa: E402
from prunelab.wiring.machine import cpu_model  # noqa: E402
from prunelab.wiring.names import parse_curve_name  # noqa: E402
from prunelab.wiring.params import load_params  # noqa: E402

CALLS = 2000
REPEATS = 15
LIMITS_HEADING = "## What the weights allow at batch 1"
_ROW = re.compile(r"^\| (dense|(\S+) (\d+) %) \| ([\w-]+) \|")


def limits_networks(frontier_md: str) -> list[tuple[str, int, str]]:
    """``(curve, k, route)`` of every row of the limits table (dense: ``("dense", 0, route)``)."""
    if LIMITS_HEADING not in frontier_md:
        raise SystemExit(f"batch1_breakdown: no '{LIMITS_HEADING}' table in the frontier "
                         "table: run `dvc repro frontier` first")
    section = frontier_md.split(LIMITS_HEADING, 1)[1].split("\n## ", 1)[0]
    networks = []
    for line in section.splitlines():
        match = _ROW.match(line)
        if match and match.group(1) != "network":
            dense = match.group(1) == "dense"
            networks.append(("dense" if dense else match.group(2),
                             0 if dense else int(match.group(3)), match.group(4)))
    return networks


@numba.njit(nogil=True)
def _dense_loop(sizes, offsets, offsets_t, flat, flat_t, images, out, calls):
    for call in range(calls):
        index = call % images.shape[0]
        numba_kernels.dense_rows(sizes, offsets, offsets_t, flat, flat_t,
                                 images[index: index + 1], out, 0, 1)


@numba.njit(nogil=True)
def _csr_loop(sizes, ptr_offsets, nz_offsets, indptr, indices, data, images, out, calls):
    for call in range(calls):
        index = call % images.shape[0]
        numba_kernels.csr_rows(sizes, ptr_offsets, nz_offsets, indptr, indices, data,
                               images[index: index + 1], out, 0, 1)


def per_call_us(batch_of_calls: Callable[[], None], calls: int, repeats: int = REPEATS) -> float:
    """Median over ``repeats`` of the mean microseconds per call of ``batch_of_calls``, which
    makes ``calls`` calls."""
    batch_of_calls()  # compile and warm
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        batch_of_calls()
        timings.append((time.perf_counter() - start) / calls * 1e6)
    return float(np.median(timings))


def kernel_us(route: str, kernels: list[np.ndarray], images: np.ndarray) -> float:
    """The compiled pass of ``route`` alone, from a compiled loop over ``images``."""
    out = np.empty((1, kernels[-1].shape[1]), np.float32)
    if route == "numba":
        operands = dense_operands(kernels)
        return per_call_us(lambda: _dense_loop(*operands, images, out, CALLS), CALLS)
    if route == "numba-csr":
        operands = PackedCSR.pack(kernels, layer_sizes(kernels)).arrays()
        return per_call_us(lambda: _csr_loop(*operands, images, out, CALLS), CALLS)
    raise SystemExit(f"batch1_breakdown: route {route!r} has no compiled kernel to time "
                     "alone (numba and numba-csr have)")


def call_us(route: str, kernels: list[np.ndarray], pool: list[np.ndarray]) -> float:
    """The route's runner, called from Python on the benchmark's batch-1 pool in turn."""
    runner = prepare(route, kernels)

    def calls() -> None:
        for index in range(CALLS):
            runner(pool[index % len(pool)])

    return per_call_us(calls, CALLS)


def model_file(curve: str, k: int, seed: int, root: Path) -> Path:
    if curve == "dense":
        return dense_path(root / "data" / "models", seed)
    schedule, method = parse_curve_name(curve)
    if schedule is None:
        return pruned_path(root / "data" / "pruned", seed, method, k)
    return finetuned_path(root / "data" / "finetuned", seed, schedule, method, k)


def benchmark_figures(benchmark: dict, curve: str, k: int, route: str) -> tuple[float, float]:
    """The committed median (us) and limit (us) at batch 1 on test images."""
    if curve == "dense":
        return (benchmark["dense"]["images"]["1"]["fastest"]["latency_ms"] * 1e3,
                benchmark["dense"]["limit_batch1"]["compact"]["limit_us"])
    entry = benchmark[curve][str(k)]
    cell = entry["images"]["1"][route]
    return cell["latency_ms"] * 1e3, entry["model"]["limit_batch1"][cell["stored_as"]]["limit_us"]


def measure(root: Path) -> dict:
    params = load_params(root / "params.yaml", DATA, TRAIN)
    seed = params.train.seeds[0]
    benchmark = json.loads((root / "metrics" / "benchmark.json").read_text())
    test = load_test(root / "data" / "raw", params.data.test_images)
    pool = image_inputs(test.images, (1,)).pools[1]
    images = np.ascontiguousarray(np.concatenate(pool), np.float32)
    rows = []
    for curve, k, route in limits_networks((root / "metrics" / "frontier.md").read_text()):
        kernels = compact(load_kernels(model_file(curve, k, seed, root)))
        measured, limit = benchmark_figures(benchmark, curve, k, route)
        rows.append({"curve": curve, "k": k, "route": route,
                     "widths": [int(w) for w in layer_sizes(kernels)],
                     "kernel_us": round(kernel_us(route, kernels, images), 2),
                     "call_us": round(call_us(route, kernels, pool), 2),
                     "benchmark_us": round(measured, 2), "limit_us": round(limit, 2)})
    return {"cpu": cpu_model(), "numba_threads": numba.get_num_threads(), "calls": CALLS,
            "repeats": REPEATS, "networks": rows}


def table(result: dict) -> str:
    lines = [
        "# Batch 1: where the time goes",
        "",
        f"Written by `python tools/batch1_breakdown.py` on {result['cpu']}, after the committed "
        "run: the networks of the frontier's limits table on the benchmark's 16 test images. "
        "Kernel: the compiled pass alone, from a compiled loop; call: the route's runner from a "
        "Python loop; benchmark: the committed median (interleaved, re-warmed); limit: what "
        "the bytes allow. Microseconds per image; each of kernel and call the median of "
        f"{result['repeats']} means of {result['calls']} calls.",
        "",
        "| network | widths | route | limit | kernel | call | benchmark | call − kernel "
        "| benchmark / call |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["networks"]:
        name = "dense" if row["curve"] == "dense" else f"{row['curve']} {row['k']} %"
        lines.append(
            f"| {name} | {'-'.join(map(str, row['widths']))} | {row['route']} | "
            f"{row['limit_us']:.1f} µs | {row['kernel_us']:.1f} µs | {row['call_us']:.1f} µs | "
            f"{row['benchmark_us']:.1f} µs | {row['call_us'] - row['kernel_us']:.1f} µs | "
            f"{row['benchmark_us'] / row['call_us']:.2f}× |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--out", type=Path, default=Path("metrics/stability/batch1-breakdown"),
                        help="written as <out>.md and <out>.json, relative to --root")
    args = parser.parse_args(argv)
    result = measure(args.root)
    out = args.root / args.out
    write_files({out.with_suffix(".md"): table(result).encode(),
                 out.with_suffix(".json"): json_bytes(result)})
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
