"""The evaluate and plot stages: numpy metrics match Keras'; both CLIs end to end on tiny files."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from prunelab.datasets import TEST_IMAGES, TEST_LABELS, load_dataset, load_test_split
from prunelab.idx import encode_idx
from prunelab.pruning import prune_network
from prunelab.sparsity import accuracy_and_loss
from prunelab.weights import KERNEL_SHAPES, forward, load_kernels, save_kernels

REPO = Path(__file__).resolve().parents[1]
EVALUATE = REPO / "stages" / "evaluate.py"
PLOT = REPO / "stages" / "plot.py"
KS = [50, 0]  # deliberately unsorted: outputs must come out in ascending k
METHODS = ["weight", "unit"]
SMALL_SIZES = (784, 16, 12, 8, 6, 10)  # the stages take any chain of kernels; small is fast
CURVE_COLUMNS = [
    "k",
    "sparsity",
    "sparsity_hidden",
    "effective_sparsity",
    "effective_sparsity_hidden",
    "test_accuracy",
    "test_loss",
    "nonzero_params",
    "compression_ratio",
    "mac_reduction",
    "sparse_mac_reduction",
]


def he_kernels(rng, sizes) -> list[np.ndarray]:
    return [
        (rng.normal(size=(r, c)) * np.sqrt(2 / r)).astype(np.float32)
        for r, c in zip(sizes[:-1], sizes[1:])
    ]


def test_numpy_accuracy_and_loss_match_keras():
    keras = pytest.importorskip("keras")
    from prunelab.model import build_mlp, set_kernels

    rng = np.random.default_rng(0)
    dense = he_kernels(rng, [KERNEL_SHAPES[0][0]] + [s[1] for s in KERNEL_SHAPES])
    images = rng.random((300, 784), dtype=np.float32)
    labels = rng.integers(0, 10, size=300)
    model = build_mlp()
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    for method in METHODS:
        pruned = prune_network(dense, method, 90)
        set_kernels(model, pruned)
        keras_loss, keras_accuracy = model.evaluate(images, labels, batch_size=128, verbose=0)
        keras_logits = model.predict(images, batch_size=128, verbose=0)
        accuracy, loss = accuracy_and_loss(pruned, images, labels)
        np.testing.assert_allclose(forward(pruned, images), keras_logits, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(
            np.argmax(forward(pruned, images), axis=1), np.argmax(keras_logits, axis=1)
        )
        assert accuracy == pytest.approx(keras_accuracy, abs=1e-6)
        assert loss == pytest.approx(keras_loss, rel=1e-5)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Tiny IDX test files, a small dense model, its pruned copies and a params file."""
    root = tmp_path_factory.mktemp("world")
    rng = np.random.default_rng(7)
    data = root / "raw"
    data.mkdir()
    (data / TEST_IMAGES).write_bytes(
        encode_idx(rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8))
    )
    (data / TEST_LABELS).write_bytes(encode_idx(rng.integers(0, 10, size=60, dtype=np.uint8)))
    # No training files: the stage reads only the test split.
    dense = he_kernels(rng, SMALL_SIZES)
    save_kernels(dense, root / "models" / "dense.npz")
    pruned = root / "pruned"
    for method in METHODS:
        for k in KS:
            save_kernels(prune_network(dense, method, k), pruned / f"{method}-{k}.npz")
    # A stale file of an item no longer in params.yaml: it must be ignored, not globbed.
    save_kernels(prune_network(dense, "weight", 77), pruned / "weight-77.npz")

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["prune"]["methods"] = METHODS
    params["prune"]["ks"] = KS
    params["data"]["test_images"] = 0
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    train = {"test_accuracy": 0.1, "test_loss": 2.3, "best_epoch": 3, "epochs_run": 4}
    (root / "train.json").write_text(json.dumps(train))
    return root


def run_evaluate(world: Path, out: Path, pruned_dir: Path | None = None, params=None):
    return subprocess.run(
        [
            sys.executable, str(EVALUATE),
            "--data", str(world / "raw"),
            "--dense", str(world / "models" / "dense.npz"),
            "--pruned-dir", str(pruned_dir or world / "pruned"),
            "--metrics", str(out / "metrics" / "pruning.json"),
            "--curves-dir", str(out / "metrics" / "curves"),
            "--params", str(params or world / "params.yaml"),
        ],
        cwd=out, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def evaluated(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluated")
    result = run_evaluate(world, out)
    assert result.returncode == 0, result.stderr
    return out


def test_evaluate_writes_nested_metrics(world, evaluated):
    document = json.loads((evaluated / "metrics" / "pruning.json").read_text())
    assert list(document) == ["test_examples", "dense", "weight", "unit"]
    assert document["test_examples"] == 60
    for method in METHODS:
        assert list(document[method]) == ["0", "50"]  # ascending; the stale 77 is ignored
    test = load_test_split(world / "raw")
    dense = document["dense"]
    for name, kernels, entry in [("dense", load_kernels(world / "models" / "dense.npz"), dense)] + [
        (f"{m}-{k}", load_kernels(world / "pruned" / f"{m}-{k}.npz"), document[m][str(k)])
        for m in METHODS
        for k in KS
    ]:
        accuracy, loss = accuracy_and_loss(kernels, test.images, test.labels)
        assert entry["test_accuracy"] == pytest.approx(accuracy, abs=1e-6), name
        assert entry["test_loss"] == pytest.approx(loss, abs=1e-6), name
        for key in ("sparsity", "effective_sparsity", "compression_ratio", "mac_reduction",
                    "sparse_mac_reduction", "nonzero_params", "dense_macs", "shrunk_macs"):
            assert key in entry, (name, key)
        assert list(entry["alive_units"]) == ["hidden_0", "hidden_1", "hidden_2", "hidden_3"]
        assert list(entry["layer_sparsity"]) == [f"kernel_{i}" for i in range(5)]
    assert dense["dense_macs"] == sum(r * c for r, c in zip(SMALL_SIZES[:-1], SMALL_SIZES[1:]))
    assert set(dense["magnitudes"]) == {f"kernel_{i}" for i in range(5)}
    assert 0 < dense["magnitudes"]["kernel_0"]["frac_below_10pct_max"] < 1
    # k = 0 prunes nothing; unit pruning at 50 % halves every hidden layer.
    assert document["weight"]["0"]["test_accuracy"] == dense["test_accuracy"]
    assert document["weight"]["0"]["accuracy_drop"] == 0
    assert document["unit"]["50"]["alive_units"] == {
        "hidden_0": 8, "hidden_1": 6, "hidden_2": 4, "hidden_3": 3
    }  # fmt: skip
    assert document["weight"]["50"]["sparsity_hidden"] == pytest.approx(0.5, abs=1e-6)
    # Plain JSON: no NaN or Infinity, floats rounded.
    json.dumps(document, allow_nan=False)
    assert len(repr(document["weight"]["50"]["test_loss"]).split(".")[1]) <= 6


def test_evaluate_writes_one_curve_per_method(evaluated):
    curves = evaluated / "metrics" / "curves"
    assert sorted(p.name for p in curves.iterdir()) == ["unit.csv", "weight.csv"]
    document = json.loads((evaluated / "metrics" / "pruning.json").read_text())
    for method in METHODS:
        with open(curves / f"{method}.csv", newline="") as stream:
            rows = list(csv.DictReader(stream))
        assert list(rows[0]) == CURVE_COLUMNS
        assert [int(row["k"]) for row in rows] == [0, 50]
        for row in rows:
            entry = document[method][row["k"]]
            assert float(row["test_accuracy"]) == entry["test_accuracy"]
            assert float(row["sparsity"]) == entry["sparsity"]
            assert int(row["nonzero_params"]) == entry["nonzero_params"]


def test_evaluate_reads_only_the_test_split(world):
    # The world has no training files at all; load_dataset would fail on it.
    with pytest.raises(FileNotFoundError):
        load_dataset(world / "raw")
    assert len(load_test_split(world / "raw", 25).labels) == 25


def test_missing_pruned_file_fails_clearly_and_writes_nothing(world, tmp_path):
    pruned = tmp_path / "pruned"
    pruned.mkdir()
    for path in (world / "pruned").iterdir():
        if path.name != "unit-50.npz":
            (pruned / path.name).write_bytes(path.read_bytes())
    result = run_evaluate(world, tmp_path, pruned_dir=pruned)
    assert result.returncode == 1
    assert "unit-50.npz" in result.stderr
    assert "dvc repro" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "metrics").exists()


def test_invalid_params_fail_before_any_work(world, tmp_path):
    params = yaml.safe_load((world / "params.yaml").read_text())
    params["prune"]["ks"] = [0, 100]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_evaluate(world, tmp_path, params=tmp_path / "params.yaml")
    assert result.returncode == 1
    assert "prune.ks" in result.stderr
    assert not (tmp_path / "metrics").exists()


def run_plot(world: Path, evaluated: Path, out: Path, params=None):
    return subprocess.run(
        [
            sys.executable, str(PLOT),
            "--pruning", str(evaluated / "metrics" / "pruning.json"),
            "--train", str(world / "train.json"),
            "--dense", str(world / "models" / "dense.npz"),
            "--png", str(out / "pruning.png"),
            "--magnitudes-png", str(out / "weight_magnitudes.png"),
            "--table", str(out / "results.md"),
            "--params", str(params or world / "params.yaml"),
        ],
        cwd=out, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_plot_makes_figures_and_table(world, evaluated, tmp_path):
    result = run_plot(world, evaluated, tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("pruning.png", "weight_magnitudes.png"):
        raw = (tmp_path / name).read_bytes()
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(raw) > 20_000  # a real figure, not an empty canvas
    table = (tmp_path / "results.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [int(row.split("|")[1]) for row in rows] == sorted(KS)
    header = next(line for line in table.splitlines() if line.startswith("| k"))
    assert header.count("|") - 1 == 1 + 5 * len(METHODS)
    document = json.loads((evaluated / "metrics" / "pruning.json").read_text())
    accuracy = document["unit"]["50"]["test_accuracy"]
    assert f"{accuracy:.4f}" in rows[1]


def test_plot_fails_when_metrics_lack_a_k_of_params(world, evaluated, tmp_path):
    params = yaml.safe_load((world / "params.yaml").read_text())
    params["prune"]["ks"] = [0, 50, 60]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_plot(world, evaluated, tmp_path, params=tmp_path / "params.yaml")
    assert result.returncode == 1
    assert "weight/60" in result.stderr and "dvc repro" in result.stderr
    assert not any(tmp_path.glob("*.png")) and not (tmp_path / "results.md").exists()


def test_plot_adds_the_speed_figure_and_table(world, evaluated, tmp_path):
    columns = ["method", "k", "batch", "route", "latency_ms", "speedup_vs_fastest_dense",
               "speedup_vs_library_dense", "mac_reduction", "fastest_dense_route"]
    rows = [
        ["weight", 0, 1, "numpy", 0.1, 1.0, 1.0, 1.0, "numpy"],
        ["weight", 50, 1, "numba-csr", 0.2, 0.5, 0.5, 2.0, "numpy"],
        ["weight", 50, 1, "scipy-csr", 0.05, 2.0, 2.5, 2.0, "numpy"],
        ["unit", 0, 1, "numpy", 0.1, 1.0, 1.0, 1.0, "numpy"],
        ["unit", 50, 1, "numpy", 0.04, 2.5, 2.5, 3.0, "numpy"],
    ]
    table = tmp_path / "benchmark.csv"
    table.write_text("\n".join(",".join(map(str, row)) for row in [columns, *rows]) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [
            sys.executable, str(PLOT),
            "--pruning", str(evaluated / "metrics" / "pruning.json"),
            "--train", str(world / "train.json"), "--dense", str(world / "models" / "dense.npz"),
            "--png", str(out / "pruning.png"), "--magnitudes-png", str(out / "m.png"),
            "--table", str(out / "results.md"), "--params", str(world / "params.yaml"),
            "--benchmark", str(table), "--speed-png", str(out / "speedup.png"),
            "--speed-table", str(out / "speed.md"),
        ],
        cwd=out, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (out / "speedup.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    speed = (out / "speed.md").read_text()
    # The fastest route of weight-50 at batch 1 is scipy-csr (50 µs), not numba-csr.
    assert "| weight | 50 | 2.0× | scipy-csr | 50.0 µs | 2.0× | 2.5× |" in speed
    assert "| unit | 50 | 3.0× | numpy | 40.0 µs | 2.5× | 2.5× |" in speed
