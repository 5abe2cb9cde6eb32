"""Fanning the pipeline out per seed through a shared remote, with the README's own scripts.

Two worker clones run `tools/worker.sh 0` and `tools/worker.sh 1` at the same time against one
local-folder remote; the second is killed (SIGTERM) once it has finished some stages and is
run again. Then an aggregator clone runs `tools/aggregate.sh`. It must run exactly the
aggregating stages, and its models and headline metrics must equal those of the tiny lab that
ran the whole pipeline alone (`built_lab`, conftest): only timings (seconds in the fine-tuning
logs, the benchmark) may differ. The workers run at a lower CPU priority than the rest of the
suite, so that the lab the other end-to-end tests wait for is built first (xdist group
``fanout``: one pytest worker takes the whole module).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from dvc_lab import lock_entries, new_lab, run, stages_run, tiny_params

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("fanout")]
AGGREGATING = {"evaluate", "sensitivity", "benchmark", "frontier", "export_compact", "plot"}


def script(repo: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.Popen(["nice", "-n", "10", "bash", *args], cwd=repo, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def running(process: subprocess.Popen, script_name: str) -> bool:
    """Whether a descendant of ``process`` runs ``stages/<script_name>`` right now."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    for child in children:
        with contextlib.suppress(psutil.Error):
            if any(part.endswith(f"stages/{script_name}") for part in child.cmdline()):
                return True
    return False


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def fanout(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("fanout")
    remote, origin = base / "remote", base / "origin"
    remote.mkdir()
    new_lab(origin, tiny_params())
    run(origin, "remote", "add", "--default", "shared", str(remote))
    run(origin, "git", "commit", "-qam", "the shared remote")
    clones = {}
    for name in ("worker-0", "worker-1", "aggregator"):
        clones[name] = base / name
        run(base, "git", "clone", "-q", str(origin), str(clones[name]))

    first = script(clones["worker-0"], "tools/worker.sh", "0")
    doomed = script(clones["worker-1"], "tools/worker.sh", "1")
    # Kill worker 1 mid-run: trained, some instances pruned, while a prune command runs (DVC is
    # then waiting for it, not writing its lock).
    pruned = clones["worker-1"] / "data/pruned/seed-1"
    deadline = time.monotonic() + 600
    while not (pruned.is_dir() and any(pruned.rglob("*.npz")) and running(doomed, "prune.py")):
        assert doomed.poll() is None, doomed.communicate()[0]
        assert time.monotonic() < deadline, "worker 1 pruned nothing in 10 minutes"
        time.sleep(0.05)
    os.killpg(doomed.pid, signal.SIGTERM)
    killed_output, _ = doomed.communicate(timeout=60)
    assert doomed.returncode != 0, "worker 1 finished before it could be killed"
    outputs = {"worker-0": finish(first),
               "worker-1 killed": killed_output,
               "worker-1 rerun": finish(script(clones["worker-1"], "tools/worker.sh", "1"))}
    outputs["aggregator"] = finish(script(clones["aggregator"], "tools/aggregate.sh"))
    return {"clones": clones, "outputs": outputs}


def model_hashes(repo: Path) -> dict[str, str]:
    """Every DVC-cached output under data/, path -> md5, but the fine-tuning logs (they hold
    seconds) and the Keras files (theirs change per save, compact exports included): the dense,
    pruned and fine-tuned networks, the calibration sets and the raw data."""
    return {out["path"]: out["md5"]
            for entry in lock_entries(repo).values() for out in entry.get("outs", [])
            if out["path"].startswith("data/")
            and not out["path"].startswith(("data/keras/", "data/compact"))
            and not (out["path"].startswith("data/finetuned/") and out["path"].endswith(".json"))}


# Reports that hold timings: the benchmark's, the fine-tuning seconds (json, table, figure), the
# training reports' seconds.
TIMED = ("metrics/benchmark.", "metrics/speedup", "metrics/speed.md", "metrics/finetune.",
         "metrics/controls.md", "metrics/frontier", "metrics/train/")


def report_files(repo: Path) -> dict[str, bytes]:
    """Every file under metrics/ but the timed ones, path -> bytes."""
    files = {str(p.relative_to(repo)): p.read_bytes()
             for p in (repo / "metrics").rglob("*") if p.is_file()}
    return {name: data for name, data in files.items() if not name.startswith(TIMED)}


def test_the_aggregator_runs_only_the_aggregating_stages(fanout: dict) -> None:
    ran = stages_run(fanout["outputs"]["aggregator"])
    assert ran == AGGREGATING, sorted(ran)
    assert "is cached - skipping run" in fanout["outputs"]["aggregator"]


def test_the_workers_split_the_seeds(fanout: dict) -> None:
    worker_0 = stages_run(fanout["outputs"]["worker-0"])
    assert "train@0" in worker_0 and not any(name.endswith("1") for name in worker_0)
    assert not AGGREGATING & worker_0


def test_a_killed_worker_reruns_only_what_it_had_not_finished(fanout: dict) -> None:
    outputs = fanout["outputs"]
    before, after = stages_run(outputs["worker-1 killed"]), stages_run(outputs["worker-1 rerun"])
    assert "train@1" in before and "train@1" not in after
    # At most the stage that was running when it died runs twice, and between them the two
    # runs did all of seed 1's work (what worker 0 did for seed 0).
    assert len(before & after) <= 1, sorted(before & after)
    seed_0 = {name for name in stages_run(outputs["worker-0"]) if re.search(r"[@-]0$", name)}
    seed_1 = {name for name in before | after if re.search(r"[@-]1$", name)}
    assert seed_1 == {name[:-1] + "1" for name in seed_0}


def test_the_aggregated_results_equal_a_single_machines(fanout: dict,
                                                       built_lab: tuple[Path, str]) -> None:
    aggregator, single = fanout["clones"]["aggregator"], built_lab[0]
    ours, theirs = model_hashes(aggregator), model_hashes(single)
    assert sorted(ours) == sorted(theirs)
    assert {p: h for p, h in ours.items() if theirs[p] != h} == {}
    assert set(lock_entries(aggregator)) == set(lock_entries(single))
    ours, theirs = report_files(aggregator), report_files(single)
    assert sorted(ours) == sorted(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []
