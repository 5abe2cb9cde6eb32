"""A throw-away copy of the lab for the end-to-end tests: the real `dvc` in a temporary git
repository, on a tiny configuration. Needs the Fashion-MNIST IDX files from Debian's
dataset-fashion-mnist (`make test` installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["stages", "dvc.yaml", "pipelines", "params.yaml", "tools", ".dvc/config",
                 ".dvc/plots", ".dvcignore", ".gitignore"]


TINY_HIDDEN = [256, 128]


def tiny_params(project: Path = ROOT, hidden: list[int] | None = TINY_HIDDEN) -> dict:
    """The project's default params, shrunk to run in a few minutes on two cores: 600 training
    images, one epoch, two seeds, a 784-256-128-10 network (not the default shape: every run of
    the suite checks through DVC that nothing assumes it; ``hidden=None`` keeps the project's
    own); every stage has instances (the retraining and the controls at k = 90 only: each of
    those instances pays TensorFlow's import, seconds), and two methods of each family.
    ``project``: whose params.yaml (another revision's, for tools/same_outputs.py)."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(train_images=600, test_images=500)
    if hidden is not None:
        params["model"]["hidden"] = hidden
    params["train"].update(seeds=[0, 1], epochs=1, batch_size=64)
    # The two magnitude methods and two data-aware ones: the others run the same stage scripts
    # (their own tests cover them), and every instance costs seconds of DVC and Python start.
    params["prune"].update(methods=["weight", "unit"], ks=[0, 50, 90])
    params["reconstruct"].update(methods=["weight_refit", "unit_refit"], ks=[90],
                                 calibration_images=256)
    params["finetune"].update(methods=["unit", "weight_refit"], ks=[90], epochs=1,
                              batch_size=64)
    params["gradual"].update(methods=["weight"], ks=[90])
    params["sensitivity"]["ks"] = [50, 90]
    params["scratch"]["ks"] = [90]
    params["lottery"]["ks"] = [90]
    params["benchmark"].update(
        curves=["weight", "unit", "unit_refit", "unit+ft", "weight+gradual", "unit+scratch"],
        random_input_curves=["weight"], batch_sizes=[1, 8], repeats=3, warmup=1,
        cell_budget_s=0.02)
    return params


def run(repo: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess:
    """`dvc <args>` (or `git ...`) in ``repo``, with this interpreter's environment and
    ``env``."""
    env = {**os.environ, **(env or {})}
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


def params_read_log(repo: Path) -> Path:
    """Where the lab's first `dvc repro` logs every params value a stage reads (beside the
    repository, so no stage sees it)."""
    return repo.parent / "params-read.log"


def stage_name(shown: str) -> str:
    """A stage's name without the `pipelines/<family>/dvc.yaml:` DVC puts before the stages of
    a dvc.yaml other than the root one (names are unique across the files: test_dvc_deps)."""
    return shown.rsplit("dvc.yaml:", 1)[-1]


def stages_run(output: str) -> set[str]:
    return {stage_name(s) for s in re.findall(r"Running stage '([^']+)'", output)}


def every_stage(repo: Path) -> set[str]:
    """Every stage instance of every dvc.yaml, by :func:`stage_name`."""
    listed = run(repo, "stage", "list", "--all", "--name-only").stdout.split()
    return {stage_name(s) for s in listed}


def write_params(repo: Path, params: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def copy_project(target: Path, project: Path = ROOT) -> None:
    """The files a lab needs from ``project`` (this checkout, or another revision's for
    tools/same_outputs.py, which may lack some of them) into ``target``."""
    for name in PROJECT_FILES:
        source, copy = project / name, target / name
        if not source.exists():
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            # Not the project's locks: a lab records its own runs (DVC rewrites a whole lock
            # after every stage, and the committed ones hold the full run's 268 entries).
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__",
                                                                        "dvc.lock"))
        else:
            shutil.copy2(source, copy)


def new_lab(target: Path, params: dict) -> None:
    """The project in ``target`` with ``params``, as the first commit of a new git repository."""
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.fail("Fashion-MNIST is missing: run `make test` (it installs dataset-fashion-mnist)")
    copy_project(target)
    write_params(target, params)
    run(target, "git", "init", "-q")
    run(target, "git", "add", "-A")
    run(target, "git", "commit", "-qm", "tiny lab")


def lock_entries(repo: Path) -> dict[str, dict]:
    """Every stage entry of every dvc.lock (the root one and each family's), by name."""
    entries: dict[str, dict] = {}
    for lock in [repo / "dvc.lock", *sorted((repo / "pipelines").glob("*/dvc.lock"))]:
        entries.update(yaml.safe_load(lock.read_text())["stages"])
    return entries


def restore(repo: Path) -> None:
    """Back to the last commit: tracked files from git, DVC outputs from the cache, and no
    output of an instance the commit does not have (an added k or seed): DVC leaves those
    behind, and a folder dep (evaluate's data/pruned) would see them."""
    changed = bool(run(repo, "git", "status", "--porcelain").stdout)
    run(repo, "git", "checkout", "-q", "--", ".")
    run(repo, "git", "clean", "-fdq")
    outs = {out["path"] for entry in lock_entries(repo).values()
            for out in entry.get("outs", [])}
    tracked = set(run(repo, "git", "ls-files", "data", "metrics").stdout.split())
    for folder in ("data", "metrics"):
        for path in sorted((repo / folder).rglob("*"), reverse=True):  # files before folders
            name = path.relative_to(repo).as_posix()
            if any(name == out or name.startswith(f"{out}/") for out in outs):
                continue
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
            elif path.is_file() and name not in tracked:
                path.unlink()
                changed = True
    # A stage that ran rewrote its lock entry (git saw it); a test that only read changed
    # nothing, and checking every output out again would cost seconds for nothing.
    if changed:
        run(repo, "checkout", "--force")
