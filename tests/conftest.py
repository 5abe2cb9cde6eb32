"""Shared test set-up: keep TensorFlow quiet and single-machine friendly; the tiny lab."""

import os
from pathlib import Path

import pytest
from dvc_lab import new_lab, run, tiny_params

# The stages call prunelab.wiring.entry.prepare_tensorflow before they import TensorFlow, but tests
# import Keras directly (test_model, test_training, ...) and may do so before any stage runs in
# this process; setting the variable here, before collection, keeps those imports quiet too.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The tiny lab after its first `dvc repro`, committed; and that repro's output. Shared by
    the end-to-end modules: a test that changes it puts it back (dvc_lab.restore)."""
    repo = tmp_path_factory.mktemp("lab")
    new_lab(repo, tiny_params())
    output = run(repo, "repro").stdout
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "baseline run")
    return repo, output
