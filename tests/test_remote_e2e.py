"""End to end: a second clone reuses every result through a DVC remote and trains nothing.

Repo A is a clone of the session's tiny lab (which ran the pipeline once and committed dvc.lock
and the uncached metrics: `cache: false` outputs live in git) with the lab's DVC cache; it
`dvc push --run-cache`es to a local-folder remote named in its committed `.dvc/config`. Two
`git clone`s of A then get the data back, each its own way:

- B: `dvc pull`, then `dvc repro`;
- C: `dvc repro --pull` alone, with the remote's URL overridden in its own `.dvc/config.local`
  (as a user whose mount point differs would do).

Neither may run a stage, and their outputs must be A's, byte for byte. Needs the Fashion-MNIST
IDX files from Debian's dataset-fashion-mnist (`make test` installs it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dvc_lab import run, stages_run

# Beside the lab's builder (conftest: built_lab), which it reads and never changes.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("lab")]

REMOTE = "shared"


def files_under(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def committed(repo: Path, pattern: str) -> list[str]:
    return run(repo, "git", "ls-files", pattern).stdout.split()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, built_lab: tuple[Path, str]
           ) -> dict[str, Path]:
    """A, with every output of the session's lab (its git history and its DVC cache), after
    `push --run-cache` to the remote and a commit; the remote; a folder for clones."""
    base = tmp_path_factory.mktemp("shared-lab")
    remote, a = base / "remote", base / "A"
    remote.mkdir()
    run(base, "git", "clone", "-q", str(built_lab[0]), str(a))
    shutil.copytree(built_lab[0] / ".dvc" / "cache", a / ".dvc" / "cache")
    run(a, "checkout")
    assert "Data and pipelines are up to date" in run(a, "status").stdout
    run(a, "remote", "add", "--default", REMOTE, str(remote))  # into the committed .dvc/config
    run(a, "push", "--run-cache")
    run(a, "git", "commit", "-qam", "the shared remote")
    assert run(a, "git", "status", "--porcelain").stdout == ""
    return {"base": base, "remote": remote, "A": a}


def clone(shared: dict[str, Path], name: str) -> Path:
    target = shared["base"] / name
    run(shared["base"], "git", "clone", "-q", str(shared["A"]), str(target))
    assert not (target / "data").exists(), "the clone should start without any DVC output"
    return target


def assert_same_results(a: Path, b: Path) -> None:
    metrics = committed(a, "*.json")
    assert any(name.startswith("metrics/") for name in metrics), "A committed no metrics JSON"
    locks = committed(a, "dvc.lock") + committed(a, "pipelines/*/dvc.lock")
    # One lock per dvc.yaml: the root one and each family's under pipelines/.
    assert len(locks) == 1 + len(list(a.glob("pipelines/*/dvc.yaml"))), locks
    for name in metrics + locks:
        assert (b / name).read_bytes() == (a / name).read_bytes(), f"{name} differs from A's"
    models = sorted((a / "data/models").rglob("*.npz"))
    assert models, "A has no data/models/**/*.npz"
    theirs, ours = files_under(a / "data"), files_under(b / "data")
    assert sorted(ours) == sorted(theirs), "the clone's data/ holds other files than A's"
    different = [name for name in theirs if theirs[name] != ours[name]]
    assert not different, f"these outputs differ from A's: {different}"
    assert run(b, "git", "status", "--porcelain").stdout == "", "the clone rewrote tracked files"


def test_the_remote_is_in_the_committed_config(shared: dict[str, Path]) -> None:
    config = (shared["A"] / ".dvc/config").read_text()
    assert f"remote = {REMOTE}" in config and str(shared["remote"]) in config
    assert ".dvc/config" in committed(shared["A"], ".dvc/config")
    assert any((shared["remote"] / "files").rglob("*")), "dvc push sent nothing"
    assert any((shared["remote"] / "runs").rglob("*")), "dvc push --run-cache sent no run-cache"


def test_pull_then_repro_runs_no_stage(shared: dict[str, Path]) -> None:
    b = clone(shared, "B")
    run(b, "pull")
    result = run(b, "repro")
    assert stages_run(result.stdout) == set(), result.stdout
    assert "Data and pipelines are up to date" in result.stdout
    assert_same_results(shared["A"], b)


def test_repro_pull_runs_no_stage_with_a_per_user_remote_url(shared: dict[str, Path]) -> None:
    c = clone(shared, "C")
    # The same storage under another path, set for this clone only (git ignores config.local).
    mount = shared["base"] / "mount"
    mount.symlink_to(shared["remote"], target_is_directory=True)
    run(c, "remote", "modify", "--local", REMOTE, "url", str(mount))
    assert run(c, "git", "status", "--porcelain").stdout == ""
    result = run(c, "repro", "--pull")
    assert stages_run(result.stdout) == set(), result.stdout
    assert "Data and pipelines are up to date" in result.stdout
    assert_same_results(shared["A"], c)
    # A second repro has nothing left to pull or run.
    again = run(c, "repro")
    assert stages_run(again.stdout) == set() and "Data and pipelines are up to date" in again.stdout
