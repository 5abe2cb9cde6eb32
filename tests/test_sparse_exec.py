"""Every execution route gives the masked dense model's logits; the compact Keras model too.

No timing assertions: speed is the benchmark's business. Random He-initialised kernels of the
real shapes, pruned by ``prune_network`` (weight 90 / 99, unit 90), then compacted.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from prunelab import sparse_exec
from prunelab.layout import pruned_path
from prunelab.pruning import prune_network
from prunelab.weights import KERNEL_SHAPES, LAYER_SIZES, forward, save_kernels

REPO = Path(__file__).resolve().parents[1]
CASES = [("weight", 90), ("weight", 99), ("unit", 90)]
# 1: serial per-sample kernels; 8: per-sample over threads; 17: one partial tile; 300: tiles
# over threads with a partial last one.
BATCHES = (1, 8, 17, 300)


def he_kernels(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=s) * np.sqrt(2 / s[0])).astype(np.float32) for s in KERNEL_SHAPES]


@pytest.fixture(scope="module")
def networks() -> dict[tuple[str, int], list[np.ndarray]]:
    dense = he_kernels(0)
    return {case: prune_network(dense, *case) for case in CASES}


@pytest.fixture(scope="module")
def images() -> dict[int, np.ndarray]:
    rng = np.random.default_rng(1)
    batches = {n: rng.random((n, LAYER_SIZES[0]), dtype=np.float32) for n in BATCHES}
    batches[300][:, ::3] = 0.0  # some black pixels, as in real images (zero-skipping paths)
    return batches


def assert_logits_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * max(scale, 1.0))


@pytest.mark.parametrize("name", list(sparse_exec.ROUTES))
@pytest.mark.parametrize("case", CASES, ids=[f"{m}-{k}" for m, k in CASES])
def test_route_matches_masked_dense_forward(name, case, networks, images):
    pruned = networks[case]
    runner = sparse_exec.prepare(name, sparse_exec.compact(pruned))
    for n, batch in images.items():
        assert_logits_close(runner(batch), forward(pruned, batch))


@pytest.mark.parametrize("name", ["numpy", "numba", "numba-csr", "scipy-csr"])
def test_routes_take_uncompacted_kernels(name, networks, images):
    pruned = networks[("weight", 99)]
    runner = sparse_exec.prepare(name, pruned)
    assert_logits_close(runner(images[300]), forward(pruned, images[300]))


def test_compact_shrinks_unit_pruned_network(networks):
    compact = sparse_exec.compact(networks[("unit", 90)])
    assert sparse_exec.hidden_sizes(compact) == (100, 100, 50, 20)
    assert all(k.dtype == np.float32 and k.flags.c_contiguous for k in compact)


def test_compact_keras_model_matches_and_survives_save_and_load(networks, images, tmp_path):
    keras = pytest.importorskip("keras")
    pruned = networks[("unit", 90)]
    model = sparse_exec.build_compact_keras(sparse_exec.compact(pruned))
    assert model.count_params() == 784 * 100 + 100 * 100 + 100 * 50 + 50 * 20 + 20 * 10
    batch = images[300]
    expected = forward(pruned, batch)
    assert_logits_close(model(batch, training=False).numpy(), expected)
    path = tmp_path / "compact.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert [layer.units for layer in reloaded.layers if hasattr(layer, "units")] == [
        100, 100, 50, 20, 10
    ]
    assert_logits_close(reloaded(batch, training=False).numpy(), expected)
    assert_logits_close(sparse_exec.keras_runner(reloaded)(batch), expected)


def test_padding_keeps_logits(networks, images):
    compact = sparse_exec.compact(networks[("weight", 99)])
    padded = sparse_exec.pad_hidden_widths(compact, 4)
    assert all(width % 4 == 0 for width in sparse_exec.hidden_sizes(padded))
    assert_logits_close(forward(padded, images[17]), forward(compact, images[17]))


@pytest.mark.parametrize("name", ["numpy", "numba", "numba-csr", "scipy-csr"])
def test_all_dead_network_gives_zero_logits(name):
    kernels = [np.zeros(s, np.float32) for s in KERNEL_SHAPES]
    compact = sparse_exec.compact(kernels)
    assert sparse_exec.hidden_sizes(compact) == (0, 0, 0, 0)
    runner = sparse_exec.prepare(name, compact)
    for n in (3, 20):
        logits = runner(np.ones((n, 784), np.float32))
        np.testing.assert_array_equal(logits, np.zeros((n, 10), np.float32))


def test_bad_batch_and_unknown_route_are_rejected(networks):
    runner = sparse_exec.prepare("numba-csr", networks[("weight", 90)])
    with pytest.raises(ValueError, match=r"\(n, 784\)"):
        runner(np.zeros((2, 783), np.float32))
    with pytest.raises(ValueError, match="unknown route"):
        sparse_exec.prepare("nope", networks[("weight", 90)])


def test_storage_figures():
    kernel = np.zeros((4, 3), np.float32)
    kernel[0, 1] = kernel[3, 2] = 1.0
    # 2 non-zeros x (4-byte value + 4-byte index) + (4 rows + 1) x 4-byte pointers
    assert sparse_exec.csr_bytes([kernel]) == 2 * 8 + 5 * 4
    arrays = sparse_exec.csr_arrays([kernel])
    assert arrays["indices_0"].tolist() == [1, 2] and arrays["indptr_0"].tolist() == [0, 1, 1, 1, 2]
    assert sparse_exec.compressed_bytes(arrays) > 0


def test_benchmark_stage_end_to_end(tmp_path):
    """A tiny real run of stages/benchmark.py: every (method, k) x batch x route has figures."""
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
    metrics, table = tmp_path / "out" / "benchmark.json", tmp_path / "out" / "benchmark.csv"
    code = benchmark.main([
        "--params", str(params_path), "--models", str(tmp_path / "models"),
        "--pruned-dir", str(tmp_path / "pruned"), "--seed", "5", "--metrics", str(metrics),
        "--csv", str(table),
    ])
    assert code == 0
    document = json.loads(metrics.read_text())
    assert set(document) == {"meta", "dense", "weight", "unit"}
    assert set(document["weight"]) == {"90", "0"}
    rows = list(csv.DictReader(table.open()))
    expected = sum(
        len(benchmark.routes_for(m, k, n))
        for m in ("weight", "unit") for k in (90, 0) for n in (1, 20)
    )
    assert len(rows) == expected
    for row in rows:
        cell = document[row["method"]][row["k"]][row["batch"]][row["route"]]
        assert cell["latency_ms"] > 0 and cell["timed_calls"] == 3  # repeats caps it
        assert cell["speedup_vs_fastest_dense"] > 0
    unit = document["unit"]["90"]
    assert unit["model"]["compact_layer_sizes"] == [784, 100, 100, 50, 20, 10]
    assert unit["1"]["tf"]["mac_reduction"] == pytest.approx(2_386_000 / 94_600)
    assert unit["1"]["best"]["route"] in benchmark.routes_for("unit", 90, 1)
    weight = document["weight"]["90"]
    assert set(weight["model"]["routes"].values()) == {"ok"}
    assert weight["1"]["tf-sparse"]["same_runtime_dense_route"] == "tf"
    assert weight["20"]["numba-csr"]["model_bytes_raw"] == weight["model"]["csr_bytes_raw"]


def test_route_policy():
    import benchmark

    assert "numba" in benchmark.routes_for("unit", 90, 256)
    assert "numba" not in benchmark.routes_for("unit", 90, 4096)
    assert benchmark.routes_for("weight", 25, 1) == benchmark.routes_for("unit", 25, 1)
    assert benchmark.routes_for("weight", 50, 1) == ("numba-csr", "scipy-csr")
    assert "tf-sparse" in benchmark.routes_for("weight", 90, 256)
    assert "tf-sparse" not in benchmark.routes_for("weight", 90, 4096)
    assert set(benchmark.routes_for("weight", 99, 4096)) == set(sparse_exec.SPARSE_ROUTES)


def test_benchmark_rejects_missing_model(tmp_path, capsys):
    import benchmark

    save_kernels(he_kernels(3), tmp_path / "models" / "seed-0" / "dense.npz")
    code = benchmark.main([
        "--params", str(REPO / "params.yaml"), "--models", str(tmp_path / "models"),
        "--pruned-dir", str(tmp_path / "none"), "--seed", "0", "--metrics", str(tmp_path / "m.json"),
        "--csv", str(tmp_path / "m.csv"),
    ])
    assert code == 1
    assert "cannot read kernels" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()
