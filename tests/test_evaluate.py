"""The evaluate, sensitivity and plot stages: numpy metrics match Keras'; the CLIs end to end on
tiny files with two seeds."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from shapes import he_kernels
from stage_runner import run_stage

from prunelab.data.datasets import TEST_IMAGES, TEST_LABELS, load_dataset, load_test_split
from prunelab.data.idx import encode_idx
from prunelab.model.forward import accuracy_and_loss, forward
from prunelab.model.weights import hidden_widths, load_kernels, save_kernels
from prunelab.pruning.masks import prune_network
from prunelab.stats.measure import over_seeds, rounded
from prunelab.stats.sparsity import magnitude_stats
from prunelab.wiring.layout import finetuned_path, pruned_path

REPO = Path(__file__).resolve().parents[1]
KS = [50, 0]  # deliberately unsorted: outputs must come out in ascending k
METHODS = ["weight", "unit", "random", "global"]
SEEDS = [3, 1]
SMALL_SIZES = (784, 16, 12, 8, 6, 10)  # the stages take any chain of kernels; small is fast


def macs(sizes: tuple[int, ...]) -> int:
    """Multiply-accumulates per example of a dense MLP with these layer widths."""
    return sum(r * c for r, c in zip(sizes[:-1], sizes[1:], strict=True))


def test_numpy_accuracy_and_loss_match_keras():
    keras = pytest.importorskip("keras")
    from prunelab.model.network import build_mlp, set_kernels

    rng = np.random.default_rng(0)
    dense = he_kernels(rng)
    images = rng.random((300, 784), dtype=np.float32)
    labels = rng.integers(0, 10, size=300)
    model = build_mlp(hidden_widths(dense))
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    for method in ("weight", "unit"):
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
    pruned, finetuned = root / "pruned", root / "finetuned"
    for seed in SEEDS:
        dense = he_kernels(np.random.default_rng(seed), SMALL_SIZES[1:-1])
        save_kernels(dense, root / "models" / f"seed-{seed}" / "dense.npz")
        for method in METHODS:
            for k in KS:
                pruned_kernels = prune_network(dense, method, k, seed)
                save_kernels(pruned_kernels, model_file(pruned, method, k, seed))
        # A stand-in for a data-aware one-shot method: magnitude-pruned, survivors scaled.
        for k in KS:
            refit = [kernel * 0.9 for kernel in prune_network(dense, "weight", k, seed)]
            save_kernels(refit, model_file(pruned, "weight_refit", k, seed))
        # Stand-ins for fine-tuned models: pruned, then the survivors nudged.
        for schedule, method in (("oneshot", "weight"), ("gradual", "unit"), ("scratch", "unit"),
                                 ("lottery", "weight"), ("reinit", "weight")):
            tuned = [kernel * 1.01 for kernel in prune_network(dense, method, 50, seed)]
            path = finetuned_path(finetuned, seed, schedule, method, 50)
            save_kernels(tuned, path)
            log = {"seconds": 2.0 + seed, "steps": 10, "val_accuracy": 0.5}
            path.with_suffix(".json").write_text(json.dumps(log))
    # A stale file of an item no longer in params.yaml: it must be ignored, not globbed.
    save_kernels(prune_network(dense, "weight", 77), model_file(pruned, "weight", 77, SEEDS[0]))

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"]["seeds"] = SEEDS
    params["model"]["hidden"] = list(SMALL_SIZES[1:-1])
    params["prune"]["methods"] = METHODS
    params["prune"]["ks"] = KS
    params["reconstruct"].update(methods=["weight_refit"], ks=KS)
    params["finetune"].update(methods=["weight"], ks=[50])
    params["gradual"].update(methods=["unit"], ks=[50])
    params["scratch"]["ks"] = [50]
    params["lottery"]["ks"] = [50]
    params["benchmark"].update(curves=["weight", "unit", "weight+ft"], random_input_curves=[])
    params["sensitivity"].update(methods=["weight", "unit"], ks=[90, 50])
    params["data"]["test_images"] = 0
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def model_file(folder: Path, method: str, k: int, seed: int) -> Path:
    return pruned_path(folder, seed, method, k)


def run_evaluate(world: Path, out: Path, pruned_dir: Path | None = None, params=None):
    return run_stage(
        "evaluate",
        "--data", str(world / "raw"),
        "--models", str(world / "models"),
        "--pruned", str(pruned_dir or world / "pruned"),
        "--finetuned", str(world / "finetuned"),
        "--metrics", str(out / "metrics" / "pruning.json"),
        "--finetune-metrics", str(out / "metrics" / "finetune.json"),
        "--curves-dir", str(out / "metrics" / "curves"),
        "--headlines-dir", str(out / "metrics" / "accuracy"),
        "--plots-dir", str(out / "metrics" / "plots"),
        "--params", str(params or world / "params.yaml"),
    )


@pytest.fixture(scope="module")
def evaluated(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluated")
    result = run_evaluate(world, out)
    assert result.returncode == 0, result.stderr
    return out


def test_evaluate_writes_nested_metrics(world, evaluated):
    document = json.loads((evaluated / "metrics" / "pruning.json").read_text())
    assert list(document) == ["test_examples", "seeds", "spread", "dense", *METHODS, "weight_refit"]
    assert document["test_examples"] == 60 and document["seeds"] == SEEDS
    for method in METHODS:
        assert list(document[method]) == ["0", "50"]  # ascending; the stale 77 is ignored
    test = load_test_split(world / "raw")

    def measured(path_of_seed):
        figures = [accuracy_and_loss(load_kernels(path_of_seed(s)), test.images, test.labels)
                   for s in SEEDS]
        return [a for a, _ in figures], [loss for _, loss in figures]

    dense = document["dense"]
    cases = [("dense", lambda s: world / "models" / f"seed-{s}" / "dense.npz", dense)] + [
        (f"{m}-{k}", lambda s, m=m, k=k: model_file(world / "pruned", m, k, s), document[m][str(k)])
        for m in METHODS
        for k in KS
    ]
    for name, path_of_seed, entry in cases:
        accuracies, losses = measured(path_of_seed)
        # Means over seeds, with the spread and the per-seed values.
        assert entry["test_accuracy"] == pytest.approx(np.mean(accuracies), abs=1e-6), name
        assert entry["test_loss"] == pytest.approx(np.mean(losses), abs=1e-6), name
        assert entry["test_accuracy_min"] == pytest.approx(min(accuracies), abs=1e-6), name
        assert entry["test_accuracy_max"] == pytest.approx(max(accuracies), abs=1e-6), name
        assert entry["test_accuracy_seeds"] == {
            f"seed_{s}": pytest.approx(a, abs=1e-6) for s, a in zip(SEEDS, accuracies, strict=True)
        }
        for key in ("sparsity", "effective_sparsity", "compression_ratio", "mac_reduction",
                    "sparse_mac_reduction", "nonzero_params", "dense_macs", "shrunk_macs"):
            assert key in entry, (name, key)
        assert list(entry["alive_units"]) == ["hidden_0", "hidden_1", "hidden_2", "hidden_3"]
        assert list(entry["layer_sparsity"]) == [f"kernel_{i}" for i in range(5)]
    assert dense["dense_macs"] == macs(SMALL_SIZES)
    # The magnitude figures the plot stage draws: of the first seed's dense kernels.
    first = load_kernels(world / "models" / f"seed-{SEEDS[0]}" / "dense.npz")
    assert dense["magnitudes"] == {
        f"kernel_{i}": rounded(magnitude_stats(kernel)) for i, kernel in enumerate(first)}
    # k = 0 prunes nothing; unit pruning at 50 % halves every hidden layer.
    assert document["weight"]["0"]["test_accuracy"] == dense["test_accuracy"]
    assert document["weight"]["0"]["accuracy_drop"] == 0
    assert document["unit"]["50"]["alive_units"] == {
        "hidden_0": 8, "hidden_1": 6, "hidden_2": 4, "hidden_3": 3
    }  # fmt: skip
    assert document["weight"]["50"]["sparsity_hidden"] == pytest.approx(0.5, abs=1e-6)
    # The baselines remove exactly as many weights as weight pruning.
    for method in ("random", "global"):
        assert (document[method]["50"]["nonzero_params"]
                == document["weight"]["50"]["nonzero_params"])
    # Plain JSON: no NaN or Infinity, floats rounded.
    json.dumps(document, allow_nan=False)
    assert len(repr(document["weight"]["50"]["test_loss"]).split(".")[1]) <= 6


def test_evaluate_writes_finetune_metrics(world, evaluated):
    document = json.loads((evaluated / "metrics" / "finetune.json").read_text())
    pruning = json.loads((evaluated / "metrics" / "pruning.json").read_text())
    assert list(document) == ["seeds", "spread", "oneshot", "gradual", "scratch", "lottery",
                              "reinit"]
    tuned = document["oneshot"]["weight"]["50"]
    test = load_test_split(world / "raw")
    accuracies = [
        accuracy_and_loss(
            load_kernels(finetuned_path(world / "finetuned", s, "oneshot", "weight", 50)),
            test.images, test.labels,
        )[0]
        for s in SEEDS
    ]
    assert tuned["test_accuracy"] == pytest.approx(np.mean(accuracies), abs=1e-6)
    gain = tuned["test_accuracy"] - pruning["weight"]["50"]["test_accuracy"]
    assert tuned["gain_over_oneshot"] == pytest.approx(gain, abs=2e-6)
    assert tuned["finetune_seconds"] == pytest.approx(np.mean([2.0 + s for s in SEEDS]))
    assert tuned["sparsity"] == pruning["weight"]["50"]["sparsity"]
    assert list(document["gradual"]) == ["unit"]
    # Curves for dvc plots: one file per schedule and method besides the one-shot ones.
    curves = {p.name for p in (evaluated / "metrics" / "curves").iterdir()}
    assert {"oneshot-weight.csv", "gradual-unit.csv", "scratch-unit.csv", "lottery-weight.csv",
            "reinit-weight.csv"} <= curves


def test_over_seeds_combines_entries() -> None:
    combined = over_seeds({
        0: {"test_accuracy": 0.5, "test_loss": 1.0, "params": 10, "ratio": None,
            "nested": {"a": 1, "b": 2.0}},
        4: {"test_accuracy": 0.7, "test_loss": 2.0, "params": 10, "ratio": None,
            "nested": {"a": 3, "b": 2.0}},
    })  # fmt: skip
    assert combined["test_accuracy"] == pytest.approx(0.6)
    assert (combined["test_accuracy_min"], combined["test_accuracy_max"]) == (0.5, 0.7)
    assert combined["test_accuracy_seeds"] == {"seed_0": 0.5, "seed_4": 0.7}
    assert combined["test_loss_max"] == 2.0
    assert combined["params"] == 10 and isinstance(combined["params"], int)
    assert combined["ratio"] is None
    assert combined["nested"] == {"a": 2.0, "b": 2.0}


def test_evaluate_writes_one_curve_per_method(evaluated):
    curves = evaluated / "metrics" / "curves"
    assert {p.name for p in curves.iterdir()} == {f"{m}.csv" for m in METHODS} | {
        "weight_refit.csv", "oneshot-weight.csv", "gradual-unit.csv", "scratch-unit.csv",
        "lottery-weight.csv", "reinit-weight.csv"}
    pruning = json.loads((evaluated / "metrics" / "pruning.json").read_text())
    finetune = json.loads((evaluated / "metrics" / "finetune.json").read_text())
    documents = {f"{m}.csv": pruning[m] for m in [*METHODS, "weight_refit"]}
    documents.update({"oneshot-weight.csv": finetune["oneshot"]["weight"],
                      "gradual-unit.csv": finetune["gradual"]["unit"],
                      "scratch-unit.csv": finetune["scratch"]["unit"],
                      "lottery-weight.csv": finetune["lottery"]["weight"]})
    for name, document in documents.items():
        with open(curves / name, newline="") as stream:
            rows = list(csv.DictReader(stream))
        # A row per k, ascending; every other column is the report's figure of that curve and k.
        assert [row["k"] for row in rows] == sorted(document, key=int), name
        assert list(rows[0])[0] == "k"
        for row in rows:
            entry = document[row["k"]]
            for column, text in list(row.items())[1:]:
                assert text == ("" if entry[column] is None else str(entry[column])), (name, column)
    # The figures a reader of the curves needs: how sparse, how accurate and how much smaller.
    with open(curves / "unit.csv", newline="") as stream:
        unit_50 = list(csv.DictReader(stream))[1]
    assert float(unit_50["sparsity_hidden"]) == pytest.approx(0.5, abs=0.01)
    assert float(unit_50["test_accuracy_min"]) <= float(unit_50["test_accuracy"]) <= float(
        unit_50["test_accuracy_max"])
    halved = (784, 8, 6, 4, 3, 10)
    assert float(unit_50["mac_reduction"]) == pytest.approx(macs(SMALL_SIZES) / macs(halved),
                                                            abs=1e-6)


def test_evaluate_writes_headlines_and_plot_tables(evaluated):
    pruning = json.loads((evaluated / "metrics" / "pruning.json").read_text())
    finetune = json.loads((evaluated / "metrics" / "finetune.json").read_text())
    headlines = evaluated / "metrics" / "accuracy"
    assert {p.name for p in headlines.iterdir()} == {
        "dense.json", "weight+ft.json", "unit+gradual.json", "unit+scratch.json",
        "weight+lottery.json", "weight+reinit.json"} | {
        f"{m}.json" for m in [*METHODS, "weight_refit"]}
    assert json.loads((headlines / "dense.json").read_text()) == {
        "k00": round(pruning["dense"]["test_accuracy"], 4)}
    assert json.loads((headlines / "weight.json").read_text()) == {
        f"k{k:02d}": round(pruning["weight"][str(k)]["test_accuracy"], 4) for k in (0, 50)}
    assert json.loads((headlines / "weight+ft.json").read_text()) == {
        "k50": round(finetune["oneshot"]["weight"]["50"]["test_accuracy"], 4)}
    with open(evaluated / "metrics" / "plots" / "oneshot.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(row["curve"], row["k"]) for row in rows] == [
        (m, k) for m in [*METHODS, "weight_refit"] for k in ("0", "50")]
    assert all(float(r["test_accuracy_min"]) <= float(r["test_accuracy"])
               <= float(r["test_accuracy_max"]) for r in rows)
    with open(evaluated / "metrics" / "plots" / "finetuned.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert {(row["method"], row["curve"]) for row in rows} == {
        ("weight", "weight"), ("weight", "weight+ft"), ("weight", "weight+lottery"),
        ("weight", "weight+reinit"), ("unit", "unit"), ("unit", "unit+gradual"),
        ("unit", "unit+scratch")}


def test_evaluate_reads_only_the_test_split(world):
    # The world has no training files at all; load_dataset would fail on it.
    with pytest.raises(FileNotFoundError):
        load_dataset(world / "raw")
    assert len(load_test_split(world / "raw", 25).labels) == 25


def test_missing_pruned_file_fails_clearly_and_writes_nothing(world, tmp_path):
    pruned = tmp_path / "pruned"
    pruned.mkdir()
    for path in (world / "pruned").glob("*/*/*.npz"):
        if path != model_file(world / "pruned", "unit", 50, SEEDS[1]):
            copy = pruned / path.relative_to(world / "pruned")
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(path.read_bytes())
    result = run_evaluate(world, tmp_path, pruned_dir=pruned)
    assert result.returncode == 1
    assert f"seed-{SEEDS[1]}/unit/50.npz" in result.stderr
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


@pytest.fixture(scope="module")
def sensitivity(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("sensitivity") / "sensitivity.json"
    result = run_stage("sensitivity", "--params", world / "params.yaml", "--data", world / "raw",
                       "--models", world / "models", "--metrics", out)
    assert result.returncode == 0, result.stderr
    return out


def test_sensitivity_prunes_one_matrix_at_a_time(world, sensitivity):
    from prunelab.pruning.masks import prune_matrix

    document = json.loads(sensitivity.read_text())
    assert document["seeds"] == SEEDS and list(document) == ["seeds", "spread", "weight", "unit"]
    assert list(document["unit"]) == [f"kernel_{i}" for i in range(4)]
    assert list(document["unit"]["kernel_2"]) == ["50", "90"]
    test = load_test_split(world / "raw")
    accuracies = []
    for seed in SEEDS:
        kernels = load_kernels(world / "models" / f"seed-{seed}" / "dense.npz")
        kernels[2] = prune_matrix(kernels[2], "unit", 90)
        accuracies.append(accuracy_and_loss(kernels, test.images, test.labels)[0])
    entry = document["unit"]["kernel_2"]["90"]
    assert entry["test_accuracy"] == pytest.approx(np.mean(accuracies), abs=1e-6)
    assert entry["test_accuracy_min"] == pytest.approx(min(accuracies), abs=1e-6)


def run_plot(world: Path, evaluated: Path, sensitivity: Path, out: Path, params=None,
             extra: tuple[str, ...] = ()):
    return run_stage(
        "plot",
        "--pruning", str(evaluated / "metrics" / "pruning.json"),
        "--finetune", str(evaluated / "metrics" / "finetune.json"),
        "--sensitivity", str(sensitivity),
        "--models", str(world / "models"),
        "--png", str(out / "pruning.png"),
        "--magnitudes-png", str(out / "weight_magnitudes.png"),
        "--table", str(out / "results.md"),
        "--recovery-png", str(out / "finetune.png"),
        "--finetune-table", str(out / "finetune.md"),
        "--controls-table", str(out / "controls.md"),
        "--sensitivity-png", str(out / "sensitivity.png"),
        "--sensitivity-table", str(out / "sensitivity.md"),
        "--params", str(params or world / "params.yaml"),
        *extra,
    )


def test_plot_makes_figures_and_tables(world, evaluated, sensitivity, tmp_path):
    result = run_plot(world, evaluated, sensitivity, tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("pruning.png", "weight_magnitudes.png", "finetune.png", "sensitivity.png"):
        raw = (tmp_path / name).read_bytes()
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(raw) > 20_000  # a real figure, not an empty canvas
    table, data_aware = (tmp_path / "results.md").read_text().split("## One-shot pruning with")
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [int(row.split("|")[1]) for row in rows] == sorted(KS)
    header = next(line for line in table.splitlines() if line.startswith("| k"))
    assert header.count("|") - 1 == 1 + 2 * len(METHODS) + 2
    document = json.loads((evaluated / "metrics" / "pruning.json").read_text())
    unit = document["unit"]["50"]
    spread = f"{unit['test_accuracy_min']:.4f}–{unit['test_accuracy_max']:.4f}"
    assert f"{unit['test_accuracy']:.4f} ({spread})" in rows[1]
    # The data-aware methods sit beside the magnitude method whose counts they share.
    assert "| k (%) | weight | weight_refit |" in data_aware
    refit = document["weight_refit"]["50"]
    row_50 = next(line for line in data_aware.splitlines() if line.startswith("| 50 |"))
    assert row_50.endswith(
        f"({refit['test_accuracy_min']:.4f}–{refit['test_accuracy_max']:.4f}) |")
    finetune = (tmp_path / "finetune.md").read_text()
    tuned = json.loads((evaluated / "metrics" / "finetune.json").read_text())
    assert finetune.count("\n| weight | 50 | ") == 1
    assert f"{tuned['oneshot']['weight']['50']['test_accuracy']:.4f}" in finetune
    assert f"{tuned['gradual']['unit']['50']['test_accuracy']:.4f}" in finetune
    heat = (tmp_path / "sensitivity.md").read_text()
    assert heat.count("\n| unit | kernel_") == 4 and "| k=50 | k=90 |" in heat
    controls = (tmp_path / "controls.md").read_text()
    weight_row = next(line for line in controls.splitlines() if line.startswith("| weight | 50 |"))
    cells = [cell.strip() for cell in weight_row.strip("|").split("|")]
    # family, k, one-shot, refit, fine-tuned, refit+ft, gradual, lottery, re-init, scratch
    assert cells[3].startswith(f"{document['weight_refit']['50']['test_accuracy']:.4f} (")
    lottery = tuned["lottery"]["weight"]["50"]
    assert cells[7] == (f"{lottery['test_accuracy']:.4f} ({lottery['test_accuracy_min']:.4f}–"
                        f"{lottery['test_accuracy_max']:.4f}), {lottery['finetune_seconds']:.0f} s")
    assert cells[5] == cells[6] == cells[9] == "—"  # no refit+ft, no gradual weight, no scratch
    unit_row = next(line for line in controls.splitlines() if line.startswith("| unit | 50 |"))
    assert f"{tuned['scratch']['unit']['50']['test_accuracy']:.4f}" in unit_row.split("|")[-2]


def test_plot_fails_when_metrics_lack_a_k_of_params(world, evaluated, sensitivity, tmp_path):
    params = yaml.safe_load((world / "params.yaml").read_text())
    params["prune"]["ks"] = [0, 50, 60]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_plot(world, evaluated, sensitivity, tmp_path, params=tmp_path / "params.yaml")
    assert result.returncode == 1
    assert "weight/60" in result.stderr and "dvc repro" in result.stderr
    assert not any(tmp_path.glob("*.png")) and not (tmp_path / "results.md").exists()


def test_plot_adds_the_speed_figure_and_table(world, evaluated, sensitivity, tmp_path):
    columns = ["method", "k", "input", "batch", "route", "latency_ms", "speedup_vs_fastest_dense",
               "speedup_vs_library_dense", "mac_reduction", "fastest_dense_route"]
    rows = [
        ["weight", 50, "images", 1, "numba-csr", 0.2, 0.5, 0.5, 2.0, "numpy"],
        ["weight", 50, "images", 1, "scipy-csr", 0.05, 2.0, 2.5, 2.0, "numpy"],
        # The stress case is not what the speed table reports: a faster random row is ignored.
        ["weight", 50, "random", 1, "numba-csr", 0.01, 9.0, 9.0, 2.0, "numpy"],
        ["unit", 50, "images", 1, "numpy", 0.04, 2.5, 2.5, 3.0, "numpy"],
    ]
    table = tmp_path / "benchmark.csv"
    table.write_text("\n".join(",".join(map(str, row)) for row in [columns, *rows]) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    result = run_plot(world, evaluated, sensitivity, out, extra=(
        "--benchmark", str(table), "--speed-png", str(out / "speedup.png"),
        "--speed-table", str(out / "speed.md")))
    assert result.returncode == 0, result.stderr
    assert (out / "speedup.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    speed = (out / "speed.md").read_text()
    # The fastest route of weight-50 at batch 1 on test images is scipy-csr (50 µs).
    assert "| weight | 50 | 2.0× | scipy-csr | 50.0 µs | 2.0× | 2.5× |" in speed
    assert "| unit | 50 | 3.0× | numpy | 40.0 µs | 2.5× | 2.5× |" in speed
