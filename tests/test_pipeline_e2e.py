"""End to end: the real `dvc repro` on a tiny configuration in a temporary git repository.

Needs the Fashion-MNIST IDX files from Debian's dataset-fashion-mnist (`make test` installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from prunelab.weights import forward, load_kernels

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["stages", "dvc.yaml", "params.yaml", ".dvc/config", ".dvc/plots", ".dvcignore",
                 ".gitignore"]

pytestmark = pytest.mark.e2e


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(train_images=600, test_images=500)
    params["train"].update(seeds=[0, 1], epochs=1, batch_size=64)
    params["prune"]["ks"] = [0, 50, 90]
    params["finetune"].update(ks=[50, 90], epochs=1, batch_size=64)
    params["gradual"].update(methods=["weight"], ks=[90])
    params["sensitivity"]["ks"] = [50, 90]
    params["benchmark"].update(batch_sizes=[1, 8], repeats=3, warmup=1, cell_budget_s=0.02)
    return params


def run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # The stages call `python`: it must be this interpreter, with dvc and tensorflow installed.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(
        GIT_AUTHOR_NAME="e2e", GIT_AUTHOR_EMAIL="e2e@localhost",
        GIT_COMMITTER_NAME="e2e", GIT_COMMITTER_EMAIL="e2e@localhost",
    )
    command = [sys.executable, "-m", "dvc", *args] if args[0] != "git" else list(args)
    result = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def write_params(repo: Path, params: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.fail("Fashion-MNIST is missing: run `make test` (it installs dataset-fashion-mnist)")
    repo = tmp_path_factory.mktemp("lab")
    for name in PROJECT_FILES:
        source, target = ROOT / name, repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    write_params(repo, tiny_params())
    run(repo, "git", "init", "-q")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "tiny lab")
    return repo


def test_repro_builds_every_output(repo: Path) -> None:
    result = run(repo, "repro")
    assert {"fetch_data", "train@0", "train@1", "prune@random-90", "finetune@unit-90",
            "gradual@weight-90", "evaluate", "sensitivity", "benchmark", "export_compact",
            "plot"} <= stages_run(result.stdout)
    for seed in (0, 1):
        train = json.loads((repo / f"metrics/train/seed-{seed}.json").read_text())
        assert train["epochs_run"] == 1 and train["seed"] == seed
        assert 0.1 < train["test_accuracy"] <= 1.0
    pruning = json.loads((repo / "metrics/pruning.json").read_text())
    for method in ("weight", "unit", "random", "global"):
        assert sorted(pruning[method], key=int) == ["0", "50", "90"]
        entry = pruning[method]["90"]
        assert sorted(entry["test_accuracy_seeds"]) == ["seed_0", "seed_1"]
        assert entry["test_accuracy_min"] <= entry["test_accuracy"] <= entry["test_accuracy_max"]
    finetune = json.loads((repo / "metrics/finetune.json").read_text())
    assert sorted(finetune["oneshot"]) == ["unit", "weight"]
    assert sorted(finetune["oneshot"]["unit"], key=int) == ["50", "90"]
    assert list(finetune["gradual"]) == ["weight"] and list(finetune["gradual"]["weight"]) == ["90"]
    # Fine-tuning keeps exactly the sparsity that pruning set.
    for method in ("weight", "unit"):
        assert finetune["oneshot"][method]["90"]["sparsity"] == pruning[method]["90"]["sparsity"]
    assert finetune["gradual"]["weight"]["90"]["sparsity"] == pruning["weight"]["90"]["sparsity"]
    sensitivity = json.loads((repo / "metrics/sensitivity.json").read_text())
    assert sorted(sensitivity["unit"]) == [f"kernel_{i}" for i in range(4)]
    benchmark = json.loads((repo / "metrics/benchmark.json").read_text())
    for batch in ("1", "8"):
        cell = benchmark["unit"]["90"][batch]
        assert cell["best"]["speedup_vs_fastest_dense"] > 0
        assert cell[cell["best"]["route"]]["latency_ms"] > 0
    assert sorted(path.name for path in (repo / "data/compact").iterdir()) == [
        "unit-0.keras", "unit-50.keras", "unit-90.keras"]
    for png in ("pruning", "weight_magnitudes", "speedup", "finetune", "sensitivity"):
        assert (repo / f"metrics/{png}.png").stat().st_size > 10_000
    assert (repo / "metrics/results.md").read_text().count("\n| 90 ") == 1
    # `dvc metrics show`: the headline files only, one column per k.
    shown = json.loads(run(repo, "metrics", "show", "--json").stdout)[""]["data"]
    rows = {path: sorted(entry["data"]) for path, entry in shown.items()}
    assert rows == {
        "metrics/accuracy/dense.json": ["k00"],
        **{f"metrics/accuracy/{m}.json": ["k00", "k50", "k90"]
           for m in ("weight", "unit", "random", "global")},
        "metrics/accuracy/weight+ft.json": ["k50", "k90"],
        "metrics/accuracy/unit+ft.json": ["k50", "k90"],
        "metrics/accuracy/weight+gradual.json": ["k90"],
        **{f"metrics/speedup/{m}-b{b}.json": ["k00", "k50", "k90"]
           for m in ("weight", "unit") for b in (1, 8)},
    }
    training = (repo / "metrics/training.csv").read_text().splitlines()
    assert training[0] == "seed,split,epoch,loss,accuracy" and len(training) == 1 + 2 * 2
    assert (repo / "metrics/finetune.md").read_text().count("\n| weight | 90 ") == 1


def test_compact_model_is_smaller_and_computes_the_same_logits(repo: Path) -> None:
    import keras

    model = keras.models.load_model(repo / "data/compact/unit-90.keras")
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [
        100, 100, 50, 20, 10]
    pixels = np.random.default_rng(0).random((64, 784), dtype=np.float32)
    masked = forward(load_kernels(repo / "data/pruned/unit-90/seed-0.npz"), pixels)
    np.testing.assert_allclose(model.predict(pixels, verbose=0), masked, rtol=1e-4, atol=1e-4)


def test_second_repro_runs_nothing(repo: Path) -> None:
    result = run(repo, "repro")
    assert stages_run(result.stdout) == set()
    assert "Data and pipelines are up to date" in result.stdout


def test_adding_a_k_reruns_only_its_instances_and_downstream(repo: Path) -> None:
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "baseline run")
    params = tiny_params()
    params["prune"]["ks"] = [0, 50, 85, 90]
    write_params(repo, params)
    ran = stages_run(run(repo, "repro").stdout)
    downstream = {"evaluate", "benchmark", "export_compact", "plot"} & ran
    assert ran - downstream == {f"prune@{m}-85" for m in ("weight", "unit", "random", "global")}
    assert downstream == {"evaluate", "benchmark", "export_compact", "plot"}
    diff = json.loads(run(repo, "metrics", "diff", "--json").stdout)
    # Headlines only: the new column of every one-shot curve (sparsity etc. are reports).
    for method in ("weight", "unit", "random", "global"):
        changed = diff[f"metrics/accuracy/{method}.json"]
        assert list(changed) == ["k85"] and changed["k85"]["old"] is None
    assert not any(path.startswith("metrics/accuracy/") and "+" in path for path in diff)


def test_bad_params_stop_before_any_work(repo: Path) -> None:
    params = tiny_params()
    params["prune"]["ks"] = [0, 50, 100]
    write_params(repo, params)
    result = run(repo, "repro", check=False)
    assert result.returncode != 0
    assert "prune.ks" in result.stdout + result.stderr
    assert not (repo / "data/pruned/weight-100").exists()


def test_experiment_with_a_changed_param(repo: Path) -> None:
    write_params(repo, tiny_params())
    run(repo, "repro")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "tiny lab, reproduced")
    result = run(repo, "exp", "run", "-S", "train.seeds=[0,1,2]", "-n", "three-seeds")
    ran = stages_run(result.stdout)
    # Only the new seed trains; everything that averages over seeds follows.
    assert "train@2" in ran and not {"train@0", "train@1"} & ran
    assert {"prune@weight-50", "finetune@unit-90", "evaluate", "sensitivity"} <= ran
    shown = json.loads(run(repo, "exp", "show", "--json").stdout)
    names = {exp.get("name") for rev in shown for exp in rev.get("experiments") or []}
    assert "three-seeds" in names
