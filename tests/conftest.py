"""Shared test set-up: keep TensorFlow quiet and single-machine friendly; the tiny lab, built
once per test run and shared by the pytest-xdist workers (`make test` runs three)."""

import os
import shutil
from pathlib import Path

import pytest
from dvc_lab import new_lab, params_read_log, run, tiny_params
from filelock import FileLock

from prunelab.wiring.params import READ_LOG_ENV

# The stages call prunelab.wiring.entry.prepare_tensorflow before they import TensorFlow, but tests
# import Keras directly (test_model, test_training, ...) and may do so before any stage runs in
# this process; setting the variable here, before collection, keeps those imports quiet too.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The order the workers take the tests in (pytest-xdist's loadgroup hands out each xdist_group
# whole, the largest first, then single tests in this order): the two groups that run a whole
# pipeline (the lab's build, the fan-out) start at once, each on its own worker; then the end-to-end
# tests that change a copy of the lab, the costly ones first; the many short unit tests last,
# where they fill whichever worker is free.
_COSTLY_FIRST = ("test_another_network_shape", "test_adding_a_seed", "test_adding_a_k_reruns",
                 "test_an_experiment_recorded", "test_adding_a_k_to_the_controls")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> tuple[int, int]:
        if item.get_closest_marker("e2e") is None:
            return (2, 0)
        costly = [i for i, name in enumerate(_COSTLY_FIRST) if item.name.startswith(name)]
        return (0, costly[0]) if costly else (1, 0)

    items.sort(key=rank)  # stable: within a rank, the files' own order


@pytest.fixture(scope="session")
def built_lab(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> tuple[Path, str]:
    """The tiny lab after its first `dvc repro`, committed; and that repro's output. Built by the
    first worker that asks (the others wait for it) and never changed afterwards: tests that
    change a lab take :func:`lab`, their worker's own copy. Every params value a stage reads in
    that repro is logged (dvc_lab.params_read_log)."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # one folder per run, every worker
    repo, output_file = shared / "lab-built" / "repo", shared / "lab-built" / "repro-output.txt"
    with FileLock(str(shared / "lab-built.lock")):
        if not output_file.exists():
            shutil.rmtree(repo.parent, ignore_errors=True)  # a build that died half-way
            repo.mkdir(parents=True)
            new_lab(repo, tiny_params())
            output = run(repo, "repro", env={READ_LOG_ENV: str(params_read_log(repo))}).stdout
            run(repo, "git", "add", "-A")
            run(repo, "git", "commit", "-qm", "baseline run")
            output_file.write_text(output)
    return repo, output_file.read_text()


@pytest.fixture(scope="session")
def lab(built_lab: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
        ) -> tuple[Path, str]:
    """This worker's copy of :func:`built_lab` (git history, DVC cache, outputs, and the numba
    kernels compiled beside the code). A test that changes it puts it back (dvc_lab.restore)."""
    copy = tmp_path_factory.mktemp("lab") / "repo"
    shutil.copytree(built_lab[0], copy, symlinks=True)
    return copy, built_lab[1]
