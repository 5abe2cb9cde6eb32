"""Does a code change move any result? Run two revisions on the tiny configuration and compare.

    python tools/same_outputs.py OLD_REV [NEW_REV] [--work DIR]

Each revision is checked out (``git worktree``) and run as the end-to-end tests run the lab
(``tests/dvc_lab.py``'s tiny params: 600 images, one epoch, two seeds, every stage, applied to
that revision's own params.yaml and keeping its default network widths) in a fresh git
repository with ``dvc repro``, on this CPU. Then every file under ``data/`` and ``metrics/``
is compared: networks, calibration sets and raw data must match byte for byte; reports may
differ only in their timings (keys naming seconds, the benchmark's files, Keras saves, which
change on every save). Exit status 0 when nothing else moved. The bits depend on the CPU (the
report's "Reproducibility"), so this compares code, not machines: both runs use this one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from dvc_lab import copy_project, tiny_params  # noqa: E402  (the e2e tests' configuration)

# Files that hold wall times, or bytes that change on every save: compared without timings.
TIMED = re.compile(r"^(metrics/(benchmark|speedup|speed\.md|speedup\.png|frontier)|data/keras/"
                   r"|data/compact/)")
SECONDS = re.compile(r"\b\d+ s\b")  # "12 s" in a table cell or after a figure


def without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if "second" not in k}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def run_lab(source: Path, lab: Path) -> None:
    """The project files of ``source`` in a new git repository ``lab``, tiny params, repro."""
    shutil.rmtree(lab, ignore_errors=True)
    lab.mkdir(parents=True)
    copy_project(lab, source)
    import yaml

    params = tiny_params(source, hidden=None)
    (lab / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "lab", "GIT_AUTHOR_EMAIL": "lab@localhost",
           "GIT_COMMITTER_NAME": "lab", "GIT_COMMITTER_EMAIL": "lab@localhost"}
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "lab"],
                    [sys.executable, "-m", "dvc", "repro"]):
        result = subprocess.run(command, cwd=lab, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"same_outputs: {' '.join(command)} failed in {lab}:\n"
                     f"{result.stdout[-2000:]}{result.stderr[-2000:]}")


def outputs(lab: Path) -> dict[str, Path]:
    return {path.relative_to(lab).as_posix(): path for folder in ("data", "metrics")
            for path in sorted((lab / folder).rglob("*")) if path.is_file()}


def differences(old: Path, new: Path) -> tuple[list[str], int]:
    """Files that moved beyond their timings, and how many files were compared."""
    before, after = outputs(old), outputs(new)
    moved = [f"only in {'old' if name in before else 'new'}: {name}"
             for name in sorted(set(before) ^ set(after))
             if name != "data/params.valid"]  # the validation stage may be new
    for name in sorted(set(before) & set(after)):
        a, b = before[name].read_bytes(), after[name].read_bytes()
        if a == b or TIMED.match(name):
            continue
        if name.endswith(".json") and without_timings(json.loads(a)) == without_timings(
                json.loads(b)):
            continue
        if name.endswith(".md") and SECONDS.sub("", a.decode()) == SECONDS.sub("", b.decode()):
            continue
        moved.append(f"differs: {name} (md5 {hashlib.md5(a).hexdigest()[:8]} -> "
                     f"{hashlib.md5(b).hexdigest()[:8]})")
    return moved, len(set(before) & set(after))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="the revision before the change")
    parser.add_argument("new", nargs="?", default="HEAD", help="the revision after (HEAD)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/same-outputs"),
                        help="a scratch folder for the two checkouts and labs")
    args = parser.parse_args(argv)
    labs = {}
    for label, revision in (("old", args.old), ("new", args.new)):
        checkout = args.work / f"{label}-src"
        subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=ROOT,
                       capture_output=True)
        subprocess.run(["git", "worktree", "add", "--detach", "-f", str(checkout), revision],
                       cwd=ROOT, check=True, capture_output=True)
        labs[label] = args.work / f"{label}-lab"
        print(f"same_outputs: running {revision} in {labs[label]}", flush=True)
        run_lab(checkout, labs[label])
        subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=ROOT,
                       capture_output=True)
    moved, compared = differences(labs["old"], labs["new"])
    for line in moved:
        print(f"same_outputs: {line}")
    print(f"same_outputs: {compared} files compared, {len(moved)} moved beyond their timings")
    return 1 if moved else 0


if __name__ == "__main__":
    sys.exit(main())
