"""What `dvc metrics show` prints: only the headline files, one row per curve, a column per k.

Cheap: no stage runs. A temporary git + DVC repository gets this project's dvc.yaml and
params.yaml, the headline files the evaluate and benchmark stages would write (made by their
own writer functions from stand-in reports), and every report file as well, which must stay out
of the metrics. Then the real `dvc metrics show --json` and `dvc metrics show`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prunelab.schema.every_section import validate_file
from prunelab.stats.curves import (
    accuracy_headlines,
    finetuned_curves,
    k_key,
    oneshot_curves,
    speed_headlines,
    timed_networks,
)
from prunelab.stats.frontier import TOLERANCES_PT, headline_key
from prunelab.wiring.names import curve_name
from prunelab.wiring.params import Params

ROOT = Path(__file__).resolve().parents[1]
# Files some stage writes that are reports: DVC must not show them as metrics.
REPORTS = {
    "metrics/pruning.json": {"dense": {"test_accuracy": 0.9, "test_accuracy_seeds": {}}},
    "metrics/finetune.json": {"seeds": [0]},
    "metrics/benchmark.json": {"meta": {"seconds": 1.0}},
    "metrics/sensitivity.json": {"weight": {}},
    "metrics/train/seed-0.json": {"test_accuracy": 0.9},
    "metrics/train/seed-0/metrics.json": {"step": 3, "train": {"loss": 0.3}},
}


def stand_in_reports(params: Params) -> tuple[dict, dict, dict]:
    """Minimal evaluate and benchmark reports covering every curve and k of ``params``."""
    pruning: dict = {"dense": {"test_accuracy": 0.895}}
    for method, ks in oneshot_curves(params).items():
        pruning[method] = {str(k): {"test_accuracy": 0.9 - k / 200} for k in ks}
    finetune: dict = {}
    for (schedule, method), ks in finetuned_curves(params).items():
        finetune.setdefault(schedule, {})[method] = {
            str(k): {"test_accuracy": 0.89 - k / 1000} for k in ks}
    benchmark = {
        curve: {str(k): {"images": {str(b): {"best": {"speedup_vs_fastest_dense": 1 + k / 7}}
                                    for b in params.benchmark.batch_sizes}} for k in ks}
        for curve, ks in timed_networks(params).items()
    }
    return pruning, finetune, benchmark


def option(stage: dict, flag: str) -> str:
    match = re.search(rf"{flag} (\S+)", stage["cmd"])
    assert match, f"{flag} is missing from: {stage['cmd']}"
    return match.group(1)


def dvc(repo: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, check=False,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    repo = tmp_path_factory.mktemp("surface")
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(ROOT / name, repo / name)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc(repo, "init", "-q")
    params = validate_file(ROOT / "params.yaml")
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    pruning, finetune, benchmark = stand_in_reports(params)
    files = {Path(path): content for path, content in REPORTS.items()}
    accuracy_dir = Path(option(stages["evaluate"], "--headlines-dir"))
    for stem, row in accuracy_headlines(pruning, finetune, params).items():
        files[accuracy_dir / f"{stem}.json"] = row
    speed_dir = Path(option(stages["benchmark"], "--headlines-dir"))
    for stem, row in speed_headlines(benchmark, params).items():
        files[speed_dir / f"{stem}.json"] = row
    frontier_dir = Path(option(stages["frontier"], "--headlines-dir"))
    for batch in params.benchmark.batch_sizes:
        files[frontier_dir / f"b{batch}.json"] = {
            headline_key(drop): 100 * drop / 7 for drop in TOLERANCES_PT}
    for path, content in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(json.dumps(content))
    document = json.loads(dvc(repo, "metrics", "show", "--json"))
    return repo, {"params": params, "accuracy_dir": accuracy_dir, "speed_dir": speed_dir,
                  "frontier_dir": frontier_dir, "metrics": document[""]["data"]}


def test_only_the_headline_files_are_metrics(shown: tuple[Path, dict]) -> None:
    _, facts = shown
    params = facts["params"]
    accuracy, speed = facts["accuracy_dir"], facts["speed_dir"]
    expected = {str(accuracy / "dense.json"): [k_key(0)]}
    for method, ks in oneshot_curves(params).items():
        expected[str(accuracy / f"{curve_name(None, method)}.json")] = [k_key(k) for k in ks]
    for (schedule, method), ks in finetuned_curves(params).items():
        expected[str(accuracy / f"{curve_name(schedule, method)}.json")] = [k_key(k) for k in ks]
    for curve, ks in timed_networks(params).items():
        for batch in params.benchmark.batch_sizes:
            expected[str(speed / f"{curve}-b{batch}.json")] = [k_key(k) for k in ks]
    for batch in params.benchmark.batch_sizes:
        expected[str(facts["frontier_dir"] / f"b{batch}.json")] = [
            headline_key(drop) for drop in TOLERANCES_PT]
    metrics = facts["metrics"]
    assert {path: list(entry["data"]) for path, entry in metrics.items()} == expected
    # Every figure is a bare number: no nesting, no per-seed values.
    assert all(isinstance(value, (int, float))
               for entry in metrics.values() for value in entry["data"].values())


def test_metrics_show_reads_like_a_table(shown: tuple[Path, dict]) -> None:
    repo, facts = shown
    lines = dvc(repo, "metrics", "show").splitlines()
    assert len(lines) <= 40, "\n".join(lines)
    assert max(map(len, lines)) <= 160, "\n".join(lines)
    # One column per k, shared by every row.
    params = facts["params"]
    ks = sorted({k for ks in [*oneshot_curves(params).values(),
                              *finetuned_curves(params).values(), params.prune.ks]
                 for k in ks})
    assert lines[0].split() == ["Path", *[k_key(k) for k in ks],
                                *[headline_key(drop) for drop in TOLERANCES_PT]]
