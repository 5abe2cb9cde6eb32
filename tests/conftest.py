"""Shared test set-up: keep TensorFlow quiet and single-machine friendly; the tiny lab."""

import os
from pathlib import Path

import pytest
from dvc_lab import new_lab, params_read_log, run, tiny_params

from prunelab.wiring.params import READ_LOG_ENV

# The stages call prunelab.wiring.entry.prepare_tensorflow before they import TensorFlow, but tests
# import Keras directly (test_model, test_training, ...) and may do so before any stage runs in
# this process; setting the variable here, before collection, keeps those imports quiet too.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The tiny lab after its first `dvc repro`, committed; and that repro's output. Shared by
    the end-to-end modules: a test that changes it puts it back (dvc_lab.restore). Every params
    value a stage reads in that repro is logged (dvc_lab.params_read_log)."""
    repo = tmp_path_factory.mktemp("lab")
    new_lab(repo, tiny_params())
    output = run(repo, "repro", env={READ_LOG_ENV: str(params_read_log(repo))}).stdout
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "baseline run")
    return repo, output
