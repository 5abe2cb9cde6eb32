"""Measure the cost model behind the dense numba pass's choice of layer form, on this CPU.

    python tools/dense_cost_model.py          # on a quiet machine; about three minutes

The dense pass (:mod:`prunelab.speed.routes.numba_kernels`) runs each layer of each sample
either as ``n_out`` dot products over all ``n_in`` inputs, or by adding the rows of the ``nz``
non-zero inputs. This times both forms alone (compiled loops, weights in cache) on a grid of
widths and zero shares, fits

    add ≈ mac · nz · n_out + row · nz + scan · n_in
    dot ≈ mac' · n_in · n_out + out · n_out

by least squares on relative error, and prints the constants of the kernel's rule ``nz ·
(SCATTER_FIXED_MACS + n_out) < n_in · (n_out - DOT_SLACK)``: the cost of a row added, and of
scanning an input for the non-zero positions, each in multiply-adds. It also prints how much
slower than always picking the faster form the rule with the kernel's current constants is.
Writes ``metrics/stability/dense-cost-model.md``, naming the CPU.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch1_breakdown import per_call_us  # noqa: E402

from prunelab.speed.routes import numba_kernels  # noqa: E402
from prunelab.speed.routes.numba_fused import cache_line_rows  # noqa: E402
from prunelab.wiring.atomic import write_files  # noqa: E402
from prunelab.wiring.machine import cpu_model  # noqa: E402

N_IN = (50, 100, 200, 300, 784, 1000)
N_OUT = (10, 20, 25, 40, 50, 60, 100, 150, 200, 300, 500, 1000)
ZERO_SHARES = (0.0, 0.5, 0.8, 0.9, 0.97)
REPEATS = 5


# The kernel's flags: the forms are inlined here, and compiled with this loop's flags
# (without fastmath the dot products' sums are not vectorised, ~5x slower).
_FLAGS = {"nogil": True, "fastmath": True, "boundscheck": False}


@numba.njit(**_FLAGS)
def _add_loop(weights, n_out, sources, positions, target, calls):
    for call in range(calls):
        source = sources[call % sources.shape[0]]
        count = numba_kernels._nonzero_positions(source, positions)
        numba_kernels._add_rows(weights, 0, n_out, source, positions, count, target)


@numba.njit(**_FLAGS)
def _dot_loop(weights_t, n_in, n_out, sources, target, calls):
    for call in range(calls):
        numba_kernels._dot_rows(weights_t, 0, n_in, n_out, sources[call % sources.shape[0]],
                                target)


def _ns_per_call(loop, *args, work: float) -> float:
    """Nanoseconds per call of ``loop(*args, calls)``, with about 2e6 multiply-adds' ``work``
    timed per repeat."""
    calls = max(50, int(2e6 / max(work, 1.0)))
    return 1e3 * per_call_us(lambda: loop(*args, calls), calls, REPEATS)


def measure() -> np.ndarray:
    """Rows ``(n_in, n_out, nz, add_ns, dot_ns)`` over the grid (16 seeded inputs each)."""
    rng = np.random.default_rng(0)
    rows = []
    for n_in, n_out in itertools.product(N_IN, N_OUT):
        matrix = rng.standard_normal((n_in, n_out)).astype(np.float32)
        (_,), flat = cache_line_rows([matrix])  # laid out as the route lays out its layers
        (_,), flat_t = cache_line_rows([matrix.T])
        target, positions = np.empty(n_out, np.float32), np.empty(n_in, np.uint32)
        for zero in ZERO_SHARES:
            sources = (rng.random((16, n_in)) * (rng.random((16, n_in)) >= zero)).astype(
                np.float32)
            nz = float((sources != 0).sum(axis=1).mean())
            add = _ns_per_call(_add_loop, flat, n_out, sources, positions, target,
                               work=nz * (n_out + 30) + n_in)
            dot = _ns_per_call(_dot_loop, flat_t, n_in, n_out, sources, target,
                               work=n_in * n_out)
            rows.append((n_in, n_out, nz, add, dot))
    return np.asarray(rows)


def fit(rows: np.ndarray) -> dict[str, float]:
    n_in, n_out, nz, add, dot = rows.T
    terms_add = np.c_[nz * n_out, nz, n_in]
    terms_dot = np.c_[n_in * n_out, n_out]
    mac, row, scan = np.linalg.lstsq(terms_add / add[:, None], np.ones_like(add), rcond=None)[0]
    mac_t, out = np.linalg.lstsq(terms_dot / dot[:, None], np.ones_like(dot), rcond=None)[0]
    return {"add_mac_ns": mac, "add_row_ns": row, "scan_input_ns": scan, "dot_mac_ns": mac_t,
            "dot_output_ns": out}


def rule_excess(rows: np.ndarray, fixed: float, slack: float) -> float:
    """Total time of the rule's picks over the total of the faster form's, minus one."""
    n_in, n_out, nz, add, dot = rows.T
    picks = np.where(nz * (fixed + n_out) < n_in * (n_out - slack), add, dot)
    return float(picks.sum() / np.minimum(add, dot).sum() - 1)


def report(rows: np.ndarray, costs: dict[str, float]) -> str:
    mac = (costs["add_mac_ns"] + costs["dot_mac_ns"]) / 2
    fixed, slack = costs["add_row_ns"] / mac, costs["scan_input_ns"] / mac
    current = (numba_kernels.SCATTER_FIXED_MACS, numba_kernels.DOT_SLACK)
    return "\n".join([
        "# The dense numba pass: cost of its two layer forms",
        "",
        f"Written by `python tools/dense_cost_model.py` on {cpu_model()}: each form alone on "
        f"{len(rows)} (inputs, outputs, zero share) points, median of {REPEATS} timed loops each.",
        "",
        "| cost | ns |",
        "|---|---:|",
        f"| multiply-add, rows added | {costs['add_mac_ns']:.4f} |",
        f"| multiply-add, dot products | {costs['dot_mac_ns']:.4f} |",
        f"| each row added, beyond its multiply-adds | {costs['add_row_ns']:.2f} |",
        f"| each input scanned for non-zeros (rows form only) | {costs['scan_input_ns']:.2f} |",
        f"| each output of the dot products, beyond its multiply-adds | "
        f"{costs['dot_output_ns']:.2f} |",
        "",
        f"In multiply-adds: a row added costs {fixed:.0f} more than its width "
        f"(`SCATTER_FIXED_MACS`), an input scanned {slack:.0f} (`DOT_SLACK`). The kernel's "
        f"constants {current[0]} and {current[1]} pick forms that take "
        f"{100 * rule_excess(rows, *current):.1f} % longer over the grid than always the "
        f"faster one; the fitted ones {100 * rule_excess(rows, fixed, slack):.1f} %.",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1]
                        / "metrics" / "stability" / "dense-cost-model.md")
    args = parser.parse_args(argv)
    rows = measure()
    text = report(rows, fit(rows))
    write_files({args.out: text.encode()})
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
