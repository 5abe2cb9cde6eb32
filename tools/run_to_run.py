"""How far two benchmark runs' speedups moved, cell by cell, for two choices of reference.

    python tools/run_to_run.py FIRST.json SECOND.json      # two runs' metrics/benchmark.json

For every cell (network, input kind, batch size) timed in both runs, the fastest route of the
second run, and its speedup in each run against two references: the fastest dense route paired
by round (``speedup_vs_fastest_dense``, what the frontier ranks: the median over the cell's
rounds of the dense median over the route's median in that round) and the same route's median
pooled over the whole run (``speedup_vs_pooled_dense``, the check). Prints, per batch size, the
median, 90th percentile and largest change between the runs and how many cells moved by more
than :data:`MARGIN`; writes the table to ``--out`` (Markdown), naming both runs' CPU.
A measurement of one machine, committed beside the runs it compares.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
from prunelab.wiring.atomic import write_files  # noqa: E402

MARGIN = 0.10
REFERENCES = {"speedup_vs_fastest_dense": "paired by round (the frontier's)",
              "speedup_vs_pooled_dense": "pooled over the run (the check)"}


def changes(first: dict, second: dict) -> dict[tuple[str, str], list[float]]:
    """``{(batch, reference key): [|log(second / first)| per cell]}``."""
    moved: dict[tuple[str, str], list[float]] = {}
    for curve, ks in second.items():
        if curve in ("meta", "dense"):
            continue
        for k, entry in ks.items():
            for kind, batches in entry.items():
                if kind == "model":
                    continue
                for batch, cell in batches.items():
                    route = cell["best"]["route"]
                    before = first.get(curve, {}).get(k, {}).get(kind, {}).get(batch, {})
                    if route is None or route not in before:
                        continue
                    for key in REFERENCES:
                        ratio = cell[route][key] / before[route][key]
                        moved.setdefault((batch, key), []).append(abs(math.log(ratio)))
    return moved


def table(first: dict, second: dict) -> str:
    lines = [
        "# Two benchmark runs: how far each cell's speedup moved",
        "",
        f"Written by `python tools/run_to_run.py`: first run on {first['meta']['cpu']}, second "
        f"on {second['meta']['cpu']}. Per cell (network, input, batch) the second run's fastest "
        "route, its speedup in both runs against each reference; change = |log ratio|, as a "
        "percentage.",
        "",
        "| batch | reference | cells | median change | 90th percentile | largest "
        f"| cells over {MARGIN:.0%} |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    moved_by = changes(first, second)
    order = list(REFERENCES)
    for batch, key in sorted(moved_by, key=lambda pair: (int(pair[0]), order.index(pair[1]))):
        moved = np.asarray(moved_by[(batch, key)])
        lines.append(
            f"| {batch} | {REFERENCES[key]} | {moved.size} | {100 * np.median(moved):.1f} % | "
            f"{100 * np.percentile(moved, 90):.1f} % | {100 * moved.max():.0f} % | "
            f"{int((moved > math.log(1 + MARGIN)).sum())} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1]
                        / "metrics" / "stability" / "run-to-run.md")
    args = parser.parse_args(argv)
    text = table(json.loads(args.first.read_text()), json.loads(args.second.read_text()))
    write_files({args.out: text.encode()})
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
