"""stages/benchmark.py for real, tiny: the rows it writes, figures that agree with each other."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from prunelab.model.weights import KERNEL_SHAPES, save_kernels
from prunelab.pruning.masks import prune_network
from prunelab.stats.curves import k_key
from prunelab.wiring.layout import pruned_path

REPO = Path(__file__).resolve().parents[1]
DENSE = ("numpy", "numpy-1t", "tf", "litert", "numba")
# weight 90 at batches 1 and 20: the sparse routes up to tf-sparse (litert-sparse needs 95);
# weight 0 and both unit models: every dense route, the numba pass included up to batch 256.
EXPECTED_ROWS = (
    [("weight", "90", batch, route) for batch in ("1", "20")
     for route in ("numba-csr", "scipy-csr", "tf-csr", "tf-sparse")]
    + [(method, k, batch, route) for method, k in (("weight", "0"), ("unit", "90"), ("unit", "0"))
       for batch in ("1", "20") for route in DENSE]
)


def he_kernels(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=s) * np.sqrt(2 / s[0])).astype(np.float32) for s in KERNEL_SHAPES]


def test_benchmark_stage_end_to_end(tmp_path):
    """A tiny real run: exactly the expected rows, each with figures that agree."""
    import benchmark

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"]["seeds"] = [5, 6]  # the first seed's models are timed
    params["prune"] = {"methods": ["weight", "unit", "random"], "ks": [90, 0]}
    params["finetune"]["ks"] = [90]
    params["benchmark"] = {"methods": ["weight", "unit"], "batch_sizes": [1, 20], "repeats": 3,
                           "warmup": 1, "cell_budget_s": 0.01}
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params))
    dense = he_kernels(2)
    save_kernels(dense, tmp_path / "models" / "seed-5" / "dense.npz")
    for method in ("weight", "unit"):
        for k in params["prune"]["ks"]:
            save_kernels(prune_network(dense, method, k),
                         pruned_path(tmp_path / "pruned", 5, method, k))
    # Not in params: must be ignored.
    save_kernels(dense, pruned_path(tmp_path / "pruned", 5, "weight", 50))
    out = tmp_path / "out"
    code = benchmark.main([
        "--params", str(params_path), "--models", str(tmp_path / "models"),
        "--pruned-dir", str(tmp_path / "pruned"), "--seed", "5",
        "--metrics", str(out / "benchmark.json"), "--csv", str(out / "benchmark.csv"),
        "--headlines-dir", str(out / "speedup"),
    ])
    assert code == 0
    document = json.loads((out / "benchmark.json").read_text())
    assert list(document) == ["meta", "dense", "weight", "unit"]
    assert list(document["weight"]) == ["90", "0"]
    assert set(document["dense"]["20"]) == {*DENSE, "fastest"}
    rows = list(csv.DictReader((out / "benchmark.csv").open()))
    assert [(r["method"], r["k"], r["batch"], r["route"]) for r in rows] == EXPECTED_ROWS
    for row in rows:
        cell = document[row["method"]][row["k"]][row["batch"]]
        figures = cell[row["route"]]
        assert figures["timed_calls"] == 3  # repeats caps it
        assert figures["latency_p10_ms"] <= figures["latency_ms"] <= figures["latency_p90_ms"]
        assert figures["speedup_vs_fastest_dense"] == pytest.approx(
            cell["fastest_dense"]["latency_ms"] / figures["latency_ms"])
        assert float(row["speedup_vs_fastest_dense"]) == pytest.approx(
            figures["speedup_vs_fastest_dense"], rel=1e-5)  # the CSV keeps 6 digits
    for method, k in (("weight", "90"), ("unit", "0")):
        for batch in ("1", "20"):
            cell = document[method][k][batch]
            speedups = {name: figures["speedup_vs_fastest_dense"] for name, figures in cell.items()
                        if name not in ("fastest_dense", "library_dense", "best")}
            assert cell["best"]["route"] == max(speedups, key=speedups.get)
            headline = json.loads((out / "speedup" / f"{method}-b{batch}.json").read_text())
            assert headline[k_key(int(k))] == round(cell["best"]["speedup_vs_fastest_dense"], 2)
    unit = document["unit"]["90"]
    assert unit["model"]["compact_layer_sizes"] == [784, 100, 100, 50, 20, 10]
    assert unit["1"]["tf"]["mac_reduction"] == pytest.approx(2_386_000 / 94_600)
    assert unit["model"]["compact_bytes_raw"] == 94_600 * 4
    assert unit["20"]["numpy"]["model_bytes_raw"] == 94_600 * 4
    weight = document["weight"]["90"]
    assert set(weight["model"]["routes"].values()) == {"ok"}
    assert weight["1"]["tf-sparse"]["same_runtime_dense_route"] == "tf"
    assert weight["20"]["numba-csr"]["model_bytes_raw"] == weight["model"]["csr_bytes_raw"]
    nonzero = weight["model"]["nonzero_weights"]
    assert weight["1"]["numba-csr"]["mac_reduction"] == pytest.approx(2_386_000 / nonzero)
    assert document["weight"]["0"]["model"]["mac_reduction_compact"] == 1.0


def test_benchmark_rejects_missing_model(tmp_path, capsys):
    import benchmark

    save_kernels(he_kernels(3), tmp_path / "models" / "seed-0" / "dense.npz")
    code = benchmark.main([
        "--params", str(REPO / "params.yaml"), "--models", str(tmp_path / "models"),
        "--pruned-dir", str(tmp_path / "none"), "--seed", "0",
        "--metrics", str(tmp_path / "m.json"), "--csv", str(tmp_path / "m.csv"),
    ])
    assert code == 1
    assert "benchmark: error: cannot read kernels" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()
