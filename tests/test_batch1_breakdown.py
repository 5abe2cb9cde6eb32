"""tools/batch1_breakdown.py: which networks it reads, which files it opens, what it writes.

The latencies themselves are a measurement of one machine (committed under metrics/stability/),
not checked here beyond being positive: no test times anything.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
from shapes import he_kernels
from synthetic import write_striped_idx

from prunelab.model.weights import save_kernels

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import batch1_breakdown  # noqa: E402

LIMITS = """# Frontier

## What the weights allow at batch 1

| network | route | weights stored (cache) | read per image | bandwidth | limit | measured | measured / limit | speedup at the limits | speedup measured |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
| dense | numba | 1.2 MB (L3) | 600 kB | 50 GB/s | 12.0 µs | 40.0 µs | 3.3× | 1.0× | 1.0× |
| unit+ft 90 % | numba | 120 kB (L2) | 60 kB | 80 GB/s | 0.8 µs | 8.0 µs | 10.0× | 15.0× | 5.0× |

## The same compact shape on the same route
"""  # noqa: E501


def test_limits_networks_reads_the_limits_table_only() -> None:
    assert batch1_breakdown.limits_networks(LIMITS) == [("dense", 0, "numba"),
                                                        ("unit+ft", 90, "numba")]


def test_breakdown_of_a_tiny_lab(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(batch1_breakdown, "CALLS", 20)
    monkeypatch.setattr(batch1_breakdown, "REPEATS", 3)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    write_striped_idx(tmp_path / "data" / "raw", {"t10k": 24})
    kernels = he_kernels(np.random.default_rng(0), (300, 100))
    save_kernels(kernels, tmp_path / "data" / "models" / "seed-0" / "dense.npz")
    pruned = [k.copy() for k in kernels]
    pruned[0][:, 30:] = 0.0  # 30 of 300 units live, then 10 of 100
    pruned[1][:, 10:] = 0.0
    save_kernels(pruned, tmp_path / "data" / "finetuned" / "seed-0" / "oneshot-unit" / "90.npz")
    limit = {"compact": {"limit_us": 12.0}}
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "frontier.md").write_text(LIMITS)
    (tmp_path / "metrics" / "benchmark.json").write_text(json.dumps({
        "dense": {"images": {"1": {"fastest": {"latency_ms": 0.04}}}, "limit_batch1": limit},
        "unit+ft": {"90": {"images": {"1": {"numba": {"latency_ms": 0.008,
                                                       "stored_as": "compact"}}},
                           "model": {"limit_batch1": {"compact": {"limit_us": 0.8}}}}}}))
    assert batch1_breakdown.main(["--root", str(tmp_path), "--out", "out/breakdown"]) == 0
    result = json.loads((tmp_path / "out" / "breakdown.json").read_text())
    rows = {(row["curve"], row["k"]): row for row in result["networks"]}
    assert rows[("dense", 0)]["widths"] == [784, 300, 100, 10]
    assert rows[("unit+ft", 90)]["widths"] == [784, 30, 10, 10]  # compacted, as routes run it
    assert rows[("unit+ft", 90)]["benchmark_us"] == 8.0
    assert rows[("unit+ft", 90)]["limit_us"] == 0.8
    assert all(row["kernel_us"] > 0 and row["call_us"] > 0 for row in rows.values())
    table = (tmp_path / "out" / "breakdown.md").read_text()
    assert "| unit+ft 90 % | 784-30-10-10 | numba | 0.8 µs |" in table
