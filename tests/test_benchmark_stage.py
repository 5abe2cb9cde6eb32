"""stages/benchmark.py for real, tiny: the rows it writes, figures that agree with each other."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from shapes import he_kernels

from prunelab.model.weights import save_kernels
from prunelab.pruning.masks import prune_network
from prunelab.speed.timing import HOT_MAX_CALLS
from prunelab.stats.curves import k_key
from prunelab.wiring.layout import finetuned_path, pruned_path

REPO = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")
DENSE = ("numpy", "numpy-1t", "tf", "litert", "numba")
SPARSE_90 = ("numba-csr", "scipy-csr", "tf-csr", "tf-sparse")  # litert-sparse needs 95
# weight 90 on test images and random pixels, unit 90 and the fine-tuned weight 90 on test
# images only (benchmark.random_input_curves); k = 0 is the dense shape: not timed.
EXPECTED_ROWS = (
    [("weight", "90", kind, batch, route) for kind in ("images", "random")
     for batch in ("1", "20") for route in SPARSE_90]
    + [("unit", "90", "images", batch, route) for batch in ("1", "20") for route in DENSE]
    + [("weight+ft", "90", "images", batch, route) for batch in ("1", "20")
       for route in SPARSE_90]
)


def fashion_test_split(folder: Path) -> Path:
    """Debian's Fashion-MNIST test split (`make test` installs it), decompressed into
    ``folder``: real images for the benchmark to feed."""
    if not FASHION.is_dir():
        pytest.fail("Fashion-MNIST is missing: run `make test` (it installs dataset-fashion-mnist)")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(gzip.decompress((FASHION / f"{name}.gz").read_bytes()))
    return folder


def test_benchmark_stage_end_to_end(tmp_path):
    """A tiny real run: exactly the expected rows, each with figures that agree."""
    import benchmark

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(local_dir="", test_images=300)
    params["train"]["seeds"] = [5, 6]  # the first seed's models are timed
    params["prune"] = {"methods": ["weight", "unit", "random"], "ks": [90, 0]}
    params["finetune"].update(methods=["weight"], ks=[90])
    params["scratch"]["ks"] = [90]
    params["benchmark"] = {"curves": ["weight", "unit", "weight+ft"],
                           "random_input_curves": ["weight"], "batch_sizes": [1, 20],
                           "repeats": 3, "warmup": 1, "cell_budget_s": 0.01}
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params))
    dense = he_kernels(np.random.default_rng(2))
    save_kernels(dense, tmp_path / "models" / "seed-5" / "dense.npz")
    for method in ("weight", "unit"):
        for k in params["prune"]["ks"]:
            save_kernels(prune_network(dense, method, k),
                         pruned_path(tmp_path / "pruned", 5, method, k))
    save_kernels(prune_network(he_kernels(np.random.default_rng(3)), "weight", 90),
                 finetuned_path(tmp_path / "finetuned", 5, "oneshot", "weight", 90))
    # Not in params: must be ignored.
    save_kernels(dense, pruned_path(tmp_path / "pruned", 5, "weight", 50))
    out = tmp_path / "out"
    code = benchmark.main([
        "--params", str(params_path), "--models", str(tmp_path / "models"),
        "--pruned-dir", str(tmp_path / "pruned"), "--finetuned-dir", str(tmp_path / "finetuned"),
        "--data", str(fashion_test_split(tmp_path / "raw")), "--seed", "5",
        "--metrics", str(out / "benchmark.json"), "--csv", str(out / "benchmark.csv"),
        "--headlines-dir", str(out / "speedup"),
    ])
    assert code == 0
    document = json.loads((out / "benchmark.json").read_text())
    assert list(document) == ["meta", "dense", "weight", "unit", "weight+ft"]
    assert list(document["weight"]) == ["90"]
    assert set(document["dense"]["random"]["20"]) == {*DENSE, "fastest"}
    rows = list(csv.DictReader((out / "benchmark.csv").open()))
    assert [(r["method"], r["k"], r["input"], r["batch"], r["route"])
            for r in rows] == EXPECTED_ROWS
    for row in rows:
        cell = document[row["method"]][row["k"]][row["input"]][row["batch"]]
        figures = cell[row["route"]]
        # repeats caps the rounds at 3; a route of microsecond calls is timed up to
        # HOT_MAX_CALLS times a round
        assert figures["timed_calls"] % 3 == 0
        assert 3 <= figures["timed_calls"] <= 3 * HOT_MAX_CALLS
        assert figures["latency_p10_ms"] <= figures["latency_ms"] <= figures["latency_p90_ms"]
        # The check divides the pooled reference; the speedup is paired by round (unit tests).
        assert figures["speedup_vs_pooled_dense"] == pytest.approx(
            cell["fastest_dense"]["latency_ms"] / figures["latency_ms"])
        assert figures["speedup_p10"] <= figures["speedup_vs_fastest_dense"] * (1 + 1e-9)
        assert figures["speedup_vs_fastest_dense"] <= figures["speedup_p90"] * (1 + 1e-9)
        # One pooled reference per input kind and batch size: the dense phase's "fastest".
        pooled = document["dense"][row["input"]][row["batch"]]["fastest"]
        assert cell["fastest_dense"]["latency_ms"] == pooled["latency_ms"]
        assert float(row["speedup_vs_fastest_dense"]) == pytest.approx(
            figures["speedup_vs_fastest_dense"], rel=1e-5)  # the CSV keeps 6 digits
    for curve in ("weight", "unit", "weight+ft"):
        for batch in ("1", "20"):
            cell = document[curve]["90"]["images"][batch]
            speedups = {name: figures["speedup_vs_fastest_dense"] for name, figures in cell.items()
                        if name not in ("fastest_dense", "library_dense", "best", "cell_dense_ms")}
            assert cell["best"]["route"] == max(speedups, key=speedups.get)
            headline = json.loads((out / "speedup" / f"{curve}-b{batch}.json").read_text())
            assert headline == {k_key(90): round(cell["best"]["speedup_vs_fastest_dense"], 2)}
    unit = document["unit"]["90"]
    assert unit["model"]["compact_layer_sizes"] == [784, 100, 100, 50, 20, 10]
    assert unit["images"]["1"]["tf"]["mac_reduction"] == pytest.approx(2_386_000 / 94_600)
    assert unit["model"]["compact_bytes_raw"] == 94_600 * 4
    assert unit["images"]["20"]["numpy"]["model_bytes_raw"] == 94_600 * 4
    weight = document["weight"]["90"]
    assert set(weight["model"]["routes"].values()) == {"ok"}
    assert weight["images"]["1"]["tf-sparse"]["same_runtime_dense_route"] == "tf"
    model = weight["model"]
    assert weight["random"]["20"]["numba-csr"]["model_bytes_raw"] == model["csr_bytes_raw"]
    nonzero = model["nonzero_weights"]
    assert weight["images"]["1"]["numba-csr"]["mac_reduction"] == pytest.approx(
        2_386_000 / nonzero)
    # Zero inputs per layer: real pixels are about half zero, random pixels never; a ReLU
    # layer's share is what it is, between 0 and 1, for both kinds.
    shares = weight["model"]["zero_input_share"]
    assert set(shares) == {"images", "random"}
    assert 0.3 < shares["images"][0] < 0.7 and shares["random"][0] == 0.0
    assert all(len(s) == 5 and all(0.0 <= v <= 1.0 for v in s) for s in shares.values())
    assert set(unit["model"]["zero_input_share"]) == {"images"}
    assert set(document["dense"]["zero_input_share"]) == {"images", "random"}
    # The batch-1 limits: compact storage for every network, CSR for weight structure.
    assert set(unit["model"]["limit_batch1"]) == {"compact"}
    assert set(model["limit_batch1"]) == {"compact", "csr"}
    csr = model["limit_batch1"]["csr"]
    # In memory the routes hold uint16 column indices (the stored file's are int32): 2 bytes
    # less per non-zero, the same uint32 row pointers.
    assert csr["stored_bytes"] == model["csr_bytes_raw"] - 2 * nonzero
    assert csr["bytes_read_per_image"] < csr["stored_bytes"]  # half the pixels are zero
    assert csr["limit_us"] == pytest.approx(
        csr["bytes_read_per_image"] / (csr["bandwidth_gb_s"] * 1e3))
    assert document["dense"]["limit_batch1"]["compact"]["stored_bytes"] == 2_386_000 * 4
    assert document["dense"]["nonzero_weights"] == 2_386_000


def test_benchmark_rejects_missing_model(tmp_path, capsys):
    import benchmark

    save_kernels(he_kernels(np.random.default_rng(3)), tmp_path / "models" / "seed-0" / "dense.npz")
    code = benchmark.main([
        "--params", str(REPO / "params.yaml"), "--models", str(tmp_path / "models"),
        "--pruned-dir", str(tmp_path / "none"), "--finetuned-dir", str(tmp_path / "none"),
        "--data", str(fashion_test_split(tmp_path / "raw")), "--seed", "0",
        "--metrics", str(tmp_path / "m.json"), "--csv", str(tmp_path / "m.csv"),
    ])
    assert code == 1
    assert "benchmark: error: cannot read kernels" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()
