"""End to end: the real `dvc repro` on a tiny configuration in a temporary git repository.

The session's lab (conftest: ``built_lab``) runs the whole pipeline once and commits the result;
a test that changes a lab takes its worker's copy (``lab``) and puts it back, so each one passes
on its own as well as in the suite. The tests that read the first build run beside its builder
(xdist group ``lab``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from dvc_lab import (
    every_stage,
    lock_entries,
    params_read_log,
    restore,
    run,
    stage_name,
    stages_run,
    tiny_params,
    write_params,
)
from pipeline_code import undeclared_param_reads, unread_declared_params

from prunelab.model.forward import forward
from prunelab.model.weights import load_kernels
from prunelab.pruning.masks import count_to_prune
from prunelab.wiring.layout import pruned_path

pytestmark = pytest.mark.e2e


def instances(stage: str, methods: list[str], ks: list[int], seeds: list[int]) -> set[str]:
    return {f"{stage}@{m}-{k}-{s}" for m in methods for k in ks for s in seeds}


@pytest.fixture
def repo(lab: tuple[Path, str]) -> Path:
    yield lab[0]
    restore(lab[0])


@pytest.mark.xdist_group("lab")
def test_repro_builds_every_output(built_lab: tuple[Path, str]) -> None:
    repo, output = built_lab
    params = tiny_params()
    every = every_stage(repo)
    assert stages_run(output) == every
    assert instances("reconstruct", params["reconstruct"]["methods"], [90], [0, 1]) <= every
    for seed in (0, 1):
        train = json.loads((repo / f"metrics/train/seed-{seed}.json").read_text())
        assert train["epochs_run"] == 1 and train["seed"] == seed
        # 540 training images, one epoch: far from done, but well above chance. Measured on this
        # config: seeds 0-3 reach 0.44-0.52 (loss 1.72-1.74); the untrained network of the same
        # seeds 0.06-0.10 (loss 2.39-2.43; chance is ln 10 = 2.30). The bounds sit between, so a
        # model that did not learn fails while float noise across machines cannot.
        assert train["test_accuracy"] > 0.3 and train["test_loss"] < 2.0
    pruning = json.loads((repo / "metrics/pruning.json").read_text())
    assert {"dense", "unit", "unit_refit", "weight", "weight_refit"} <= set(pruning)
    for method in ("weight", "unit"):
        assert sorted(pruning[method], key=int) == ["0", "50", "90"]
        entry = pruning[method]["90"]
        assert sorted(entry["test_accuracy_seeds"]) == ["seed_0", "seed_1"]
        assert entry["test_accuracy_min"] <= entry["test_accuracy"] <= entry["test_accuracy_max"]
    for method in ("weight_refit", "unit_refit"):
        assert list(pruning[method]) == ["90"]
    assert pruning["weight_refit"]["90"]["sparsity"] == pruning["weight"]["90"]["sparsity"]
    finetune = json.loads((repo / "metrics/finetune.json").read_text())
    assert sorted(finetune["oneshot"]) == ["unit", "weight_refit"]
    assert list(finetune["oneshot"]["unit"]) == ["90"]
    assert list(finetune["gradual"]) == ["weight"] and list(finetune["gradual"]["weight"]) == ["90"]
    # Fine-tuning keeps exactly the sparsity that one-shot pruning set.
    for method in ("unit", "weight_refit"):
        assert finetune["oneshot"][method]["90"]["sparsity"] == pruning[method]["90"]["sparsity"]
    assert finetune["gradual"]["weight"]["90"]["sparsity"] == pruning["weight"]["90"]["sparsity"]
    sensitivity = json.loads((repo / "metrics/sensitivity.json").read_text())
    hidden = params["model"]["hidden"]  # not the default widths: any shape runs through DVC
    assert sorted(sensitivity["unit"]) == [f"kernel_{i}" for i in range(len(hidden))]
    for schedule, method in (("scratch", "unit"), ("lottery", "weight"), ("reinit", "weight")):
        entry = finetune[schedule][method]["90"]
        assert sorted(entry["test_accuracy_seeds"]) == ["seed_0", "seed_1"]
    # The scratch network has unit pruning's compact widths; the tickets weight pruning's zeros.
    scratch = finetune["scratch"]["unit"]["90"]
    assert scratch["effective_nonzero_params"] == pruning["unit"]["90"]["effective_nonzero_params"]
    for variant in ("lottery", "reinit"):
        assert finetune[variant]["weight"]["90"]["sparsity"] == pruning["weight"]["90"]["sparsity"]
    benchmark = json.loads((repo / "metrics/benchmark.json").read_text())
    for kind, curve in (("images", "unit"), ("images", "unit+scratch"), ("random", "weight")):
        for batch in ("1", "8"):
            cell = benchmark[curve]["90"][kind][batch]
            assert cell["best"]["route"] in cell
    frontier = (repo / "metrics/frontier.md").read_text()
    assert "## Fastest network within d points" in frontier
    assert "## Pareto front at batch 8" in frontier
    assert sorted(path.name for path in (repo / "data/compact").iterdir()) == [
        "unit-0.keras", "unit-50.keras", "unit-90.keras"]
    for png in ("pruning", "weight_magnitudes", "speedup", "finetune", "sensitivity", "frontier"):
        assert (repo / f"metrics/{png}.png").stat().st_size > 10_000
    # One row of k = 90 in the magnitude table, one in the data-aware table.
    assert (repo / "metrics/results.md").read_text().count("\n| 90 ") == 2
    # `dvc metrics show`: the headline files only, one column per k.
    shown = json.loads(run(repo, "metrics", "show", "--json").stdout)[""]["data"]
    rows = {path: sorted(entry["data"]) for path, entry in shown.items()}
    assert rows == {
        "metrics/accuracy/dense.json": ["k00"],
        **{f"metrics/accuracy/{m}.json": ["k00", "k50", "k90"]
           for m in ("weight", "unit")},
        **{f"metrics/accuracy/{m}.json": ["k90"]
           for m in ("weight_refit", "unit_refit", "unit+ft", "weight_refit+ft")},
        "metrics/accuracy/weight+gradual.json": ["k90"],
        **{f"metrics/accuracy/{m}.json": ["k90"]
           for m in ("unit+scratch", "weight+lottery", "weight+reinit")},
        # Timed on test images; k = 0 is the dense network's shape, timed by the dense phase.
        **{f"metrics/speedup/{m}-b{b}.json": ["k50", "k90"]
           for m in ("weight", "unit") for b in (1, 8)},
        **{f"metrics/speedup/{m}-b{b}.json": ["k90"]
           for m in ("unit_refit", "unit+ft", "weight+gradual", "unit+scratch") for b in (1, 8)},
        **{f"metrics/frontier/b{b}.json": ["≤0.5pt", "≤1pt", "≤2pt", "≤5pt"] for b in (1, 8)},
    }
    training = (repo / "metrics/training.csv").read_text().splitlines()
    assert training[0] == "seed,split,epoch,loss,accuracy" and len(training) == 1 + 2 * 2
    assert (repo / "metrics/finetune.md").read_text().count("\n| unit | 90 ") == 1
    assert (repo / "metrics/controls.md").read_text().count("\n| weight | 90 ") == 1


@pytest.mark.xdist_group("lab")
def test_compact_model_is_smaller_and_computes_the_same_logits(repo: Path) -> None:
    import keras

    model = keras.models.load_model(repo / "data/compact/unit-90.keras")
    kept = [width - count_to_prune(width, 90) for width in tiny_params()["model"]["hidden"]]
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [*kept, 10]
    pixels = np.random.default_rng(0).random((64, 784), dtype=np.float32)
    masked = forward(load_kernels(pruned_path(repo / "data/pruned", 0, "unit", 90)), pixels)
    np.testing.assert_allclose(model.predict(pixels, verbose=0), masked, rtol=1e-4, atol=1e-4)


@pytest.mark.xdist_group("lab")
def test_second_repro_runs_nothing(repo: Path) -> None:
    result = run(repo, "repro")
    assert stages_run(result.stdout) == set()
    assert "Data and pipelines are up to date" in result.stdout


def test_adding_a_seed_runs_only_that_seeds_work_and_the_aggregates(repo: Path) -> None:
    params = tiny_params()
    params["train"]["seeds"] = [0, 1, 2]
    write_params(repo, params)
    ran = stages_run(run(repo, "repro").stdout)
    new_seed = (
        {"train@2", "calibrate@2"}
        | instances("prune", params["prune"]["methods"], params["prune"]["ks"], [2])
        | instances("reconstruct", params["reconstruct"]["methods"], [90], [2])
        | instances("finetune", params["finetune"]["methods"], [90], [2])
        | instances("gradual", ["weight"], [90], [2])
        | {"scratch@90-2", "lottery@90-2", "reinit@90-2"}
    )
    # The benchmark and the compact export read the first seed's models only.
    assert ran == new_seed | {"validate_params", "evaluate", "sensitivity", "frontier", "plot"}
    pruning = json.loads((repo / "metrics/pruning.json").read_text())
    assert sorted(pruning["unit_refit"]["90"]["test_accuracy_seeds"]) == [
        "seed_0", "seed_1", "seed_2"]


def test_adding_a_k_to_the_controls_trains_only_their_instances(repo: Path) -> None:
    params = tiny_params()
    params["scratch"]["ks"] = [50, 90]
    params["lottery"]["ks"] = [50, 90]
    write_params(repo, params)
    new = {f"{stage}@50-{seed}" for stage in ("scratch", "lottery", "reinit") for seed in (0, 1)}
    # The new instances and what `dvc repro` would run after them: the stages that read the
    # controls' ks, and the benchmark, which reads the first seed's whole model folders.
    aggregating = {"evaluate", "benchmark", "frontier", "plot"}
    assert stale(repo) == {"validate_params"} | new | aggregating
    # Running the new instances (the validation first: their data depends on it) retrains no
    # other control; the aggregates are left, so seconds are not spent on them twice in the suite.
    ran = stages_run(run(repo, "repro", *(f"pipelines/controls/dvc.yaml:{name}"
                                          for name in sorted(new))).stdout)
    assert ran == {"validate_params"} | new
    assert stale(repo) == aggregating


@pytest.mark.parametrize(("section", "key", "value"), [
    ("prune", "ks", [0, 50, 100]),
    # Read only by the benchmark, the last costly stage: still stopped before fine-tuning reruns.
    ("benchmark", "repeats", 0),
])
def test_bad_params_stop_before_any_work(repo: Path, section: str, key: str, value) -> None:
    params = tiny_params()
    params[section][key] = value
    params["finetune"]["epochs"] = 2  # makes every finetune instance stale
    write_params(repo, params)
    result = run(repo, "repro", check=False)
    assert result.returncode != 0
    assert f"{section}.{key}" in result.stdout + result.stderr
    assert stages_run(result.stdout) == {"validate_params"}
    assert not (repo / "data/pruned/seed-0/weight/100.npz").exists()


def stale(repo: Path) -> set[str]:
    """The stage instances `dvc status` reports changed, by name."""
    shown = json.loads(run(repo, "status", "--json").stdout)
    return {stage_name(name) for name in shown}


def touch(repo: Path, module: str) -> None:
    """An edit that changes the file's bytes and nothing it computes."""
    path = repo / "stages" / "prunelab" / module
    path.write_text(path.read_text() + "# touched\n")


def test_touching_the_pruning_core_leaves_data_training_and_fine_tuning_alone(repo: Path) -> None:
    params = tiny_params()
    touch(repo, "pruning/masks.py")
    assert stale(repo) == (
        instances("prune", params["prune"]["methods"], params["prune"]["ks"], [0, 1])
        | instances("reconstruct", params["reconstruct"]["methods"], [90], [0, 1])
        | instances("gradual", ["weight"], [90], [0, 1])
        | {"sensitivity", "plot"}
    )
    # Reproducing a fine-tuned network and a lottery ticket reruns the prune instances they
    # start from; the pruned files come out the same, so neither retrains: DVC compares each
    # stage's deps when it gets there.
    ran = stages_run(run(repo, "repro", "pipelines/finetune/dvc.yaml:finetune@unit-90-0",
                         "pipelines/controls/dvc.yaml:lottery@90-1").stdout)
    assert ran == {"prune@unit-90-0", "prune@weight-90-1"}


def test_touching_the_figures_makes_only_the_figure_stages_stale(repo: Path) -> None:
    touch(repo, "figures/charts.py")
    assert stale(repo) == {"plot", "frontier"}


def test_bytecode_beside_the_code_changes_no_stage(repo: Path) -> None:
    """Python writes __pycache__ next to the modules a stage imports (unless
    PYTHONDONTWRITEBYTECODE is set); a folder dep must not see it, or every run would make the
    stages that declare the folder stale again."""
    cache = repo / "stages" / "prunelab" / "wiring" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "params.cpython-311.pyc").write_bytes(b"bytecode")
    try:
        assert stale(repo) == set()
    finally:
        (cache / "params.cpython-311.pyc").unlink()
        cache.rmdir()


@pytest.mark.xdist_group("lab")
def test_every_param_a_stage_reads_is_declared(built_lab: tuple[Path, str]) -> None:
    """The first repro logged every params value each stage read: a value read but not declared
    in dvc.yaml leaves the stage stale when it changes (the benchmark once read scratch.ks so);
    one declared but never read reruns it for nothing."""
    repo = built_lab[0]  # its dvc.yaml files as the project's, with an instance of every stage
    reads = [tuple(line.split("\t")) for line in params_read_log(repo).read_text().splitlines()]
    assert {script for script, _ in reads} >= {"stages/train.py", "stages/lottery.py"}
    assert undeclared_param_reads(repo, reads) == {}
    assert unread_declared_params(repo, reads) == {}


def test_editing_a_section_schema_makes_only_its_readers_stale(repo: Path) -> None:
    """The benchmark section's schema is read by the stages that load that section, and by the
    validation stage (seconds, its output unchanged while the params are valid)."""
    touch(repo, "schema/benchmark.py")
    # All four are stale now, so `dvc repro` would run exactly these (frontier and plot are the
    # pipeline's last stages): the run itself is left to the tests that need its outputs.
    assert stale(repo) == {"validate_params", "benchmark", "frontier", "plot"}


def test_a_new_params_section_reruns_only_the_validation(repo: Path) -> None:
    """An extension's new section, with its schema module registered: no existing stage reads
    it, so only the (seconds-long) validation stage reruns, and its output is unchanged."""
    path = repo / "stages/prunelab/schema/every_section.py"
    text = path.read_text()
    path.write_text(text.replace(
        "SECTIONS: tuple[Section, ...] = (",
        'EXTRA = Section("extra", {"size": int_at_least(1)}, dict)\n'
        "SECTIONS: tuple[Section, ...] = (EXTRA, ").replace(
        "    build_params,", "    build_params,\n    int_at_least,"))
    params = tiny_params()
    params["extra"] = {"size": 3}
    write_params(repo, params)
    assert stale(repo) == {"validate_params"}
    assert stages_run(run(repo, "repro").stdout) == {"validate_params"}


def test_adding_a_k_reruns_only_its_instances_and_downstream(repo: Path) -> None:
    params = tiny_params()
    params["prune"]["ks"] = [0, 50, 85, 90]
    write_params(repo, params)
    ran = stages_run(run(repo, "repro").stdout)
    # validate_params reruns on every params edit (seconds; its output unchanged).
    aggregating = {"validate_params", "evaluate", "benchmark", "frontier", "export_compact",
                   "plot"}
    assert ran == instances("prune", params["prune"]["methods"], [85], [0, 1]) | aggregating
    diff = json.loads(run(repo, "metrics", "diff", "--json").stdout)
    # Headlines only: the new column of every one-shot curve (sparsity etc. are reports).
    for method in params["prune"]["methods"]:
        changed = diff[f"metrics/accuracy/{method}.json"]
        assert list(changed) == ["k85"] and changed["k85"]["old"] is None
    assert not any(path.startswith("metrics/accuracy/") and "+" in path for path in diff)


def test_an_experiment_recorded_reruns_only_what_its_param_affects(repo: Path) -> None:
    """`dvc exp run -S` through tools/record_experiment.py, in a temporary workspace (this one
    is left alone): only the stages that read the param rerun, DVC lists the experiment, and
    the record holds the changed metrics files with the overrides, commit, CPU and seconds.
    `dvc exp apply` then brings exactly the recorded files, up to date."""
    import subprocess
    import sys

    head = run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    result = subprocess.run(
        [sys.executable, "tools/record_experiment.py", "one-k", "-S", "sensitivity.ks=[90]"],
        cwd=repo, capture_output=True, text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                   f"{os.environ['PATH']}"})
    assert result.returncode == 0, result.stdout + result.stderr
    # validate_params reruns on every params edit (seconds; its output unchanged).
    assert stages_run(result.stdout) == {"validate_params", "sensitivity", "plot"}
    shown = json.loads(run(repo, "exp", "show", "--json").stdout)
    names = {exp.get("name") for rev in shown for exp in rev.get("experiments") or []}
    assert "one-k" in names
    folder = repo / "metrics/experiments/one-k"
    record = json.loads((folder / "record.json").read_text())
    assert record["overrides"] == ["sensitivity.ks=[90]"] and record["commit"] == head
    assert record["cpu"] and record["wall_seconds"] > 0
    assert set(record["stage_seconds"]) == {"validate_params", "sensitivity", "plot"}
    assert {"metrics/sensitivity.json", "metrics/sensitivity.md"} <= set(record["files"])
    # The workspace is untouched: same params, nothing but the record is new.
    status = run(repo, "git", "status", "--porcelain").stdout.splitlines()
    assert status == ["?? metrics/experiments/"], status

    run(repo, "exp", "apply", "one-k")
    assert stale(repo) == set()
    for name in record["files"]:
        recorded = folder / Path(name).relative_to("metrics")
        assert recorded.read_bytes() == (repo / name).read_bytes(), name
    assert list(json.loads((repo / "metrics/sensitivity.json").read_text())["unit"]["kernel_0"]
                ) == ["90"]


def test_another_network_shape_makes_every_reader_of_the_networks_stale(repo: Path) -> None:
    """`dvc exp run -S 'model.hidden=[300,100]'` (LeNet-300-100; the lab runs other widths),
    here for the training only: the networks take the new shape, `dvc exp show` lists the
    experiment with its params, and every stage that reads a trained network is stale (the
    others read those stages' outputs, so `dvc repro` reruns them in turn; the data and the
    calibration images do not depend on the shape). Then on to the accuracies (the lottery
    tickets left out, to keep the test short): `dvc exp show` and `dvc metrics diff` report other
    headlines than the baseline's. The whole pipeline on another shape is the lab itself: it
    runs 784-256-128-10."""
    result = run(repo, "exp", "run", "-n", "lenet", "-S", "model.hidden=[300,100]",
                 "train@0", "train@1")
    assert stages_run(result.stdout) == {"validate_params", "train@0", "train@1"}
    for seed in (0, 1):
        dense = load_kernels(repo / f"data/models/seed-{seed}/dense.npz")
        assert [kernel.shape for kernel in dense] == [(784, 300), (300, 100), (100, 10)]
    shown = json.loads(run(repo, "exp", "show", "--json").stdout)
    head = next(state for state in shown if state["rev"] != "workspace")
    lenet = [exp["revs"][0] for exp in head.get("experiments") or [] if exp["name"] == "lenet"]
    assert len(lenet) == 1
    assert lenet[0]["data"]["params"]["params.yaml"]["data"]["model"]["hidden"] == [300, 100]
    # (A lock keeps the entries of instances the params no longer make, DVC issue 5293: only
    # the current stages count.)
    readers = every_stage(repo) & {
        name for name, entry in lock_entries(repo).items()
        if any(dep["path"].startswith("data/models") for dep in entry.get("deps", []))}
    assert {name.split("@")[0] for name in readers} >= {
        "prune", "reconstruct", "gradual", "lottery", "evaluate", "sensitivity", "plot"}
    assert stale(repo) == readers

    result = run(repo, "exp", "run", "-n", "lenet-accuracy", "-S", "model.hidden=[300,100]",
                 "-S", "lottery.ks=[]", "evaluate")
    ran = stages_run(result.stdout)
    assert "evaluate" in ran and not any(name.startswith("train@") for name in ran)
    shown = json.loads(run(repo, "exp", "show", "--json").stdout)
    head = next(state for state in shown if state["rev"] != "workspace")
    baseline = head["data"]["metrics"]["metrics/accuracy/weight.json"]["data"]
    accuracy = [exp["revs"][0]["data"]["metrics"]["metrics/accuracy/weight.json"]["data"]
                for exp in head.get("experiments") or [] if exp["name"] == "lenet-accuracy"]
    assert len(accuracy) == 1 and set(accuracy[0]) == set(baseline)
    assert accuracy[0] != baseline
    diff = json.loads(run(repo, "metrics", "diff", "--json").stdout)
    assert "metrics/accuracy/weight.json" in diff
