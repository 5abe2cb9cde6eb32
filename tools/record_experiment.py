"""Record a named DVC experiment into committed files: ``metrics/experiments/<name>/``.

    python tools/record_experiment.py <name> -S 'finetune.methods=[weight,unit]' [-S ...]
        [--target <stage> ...]
    make record NAME=<name> SET="-S 'key=value' ... [--target <stage>]"

``--target`` runs only those stages and what they depend on (``dvc exp run <targets>``), e.g.
``--target evaluate`` for accuracies without the benchmark's timings. ``--force`` runs every one
of them again (``dvc exp run -f``) and replaces an experiment of the same name: without it, stages
DVC's run-cache has seen with the same inputs are restored in seconds, so a re-record would time
the restoring, not the work.

Runs ``dvc exp run --temp -n <name> -S ...`` (a temporary workspace: this one, its params and its
outputs stay as they are; the run-cache and the shared cache make a rerun of the same experiment
cheap), timing each stage family from DVC's own "Running stage" lines, then writes:

- ``record.json``: the name, the overrides and targets, the commit it ran on, the CPU, the
  wall time in all and per stage family, and which files follow;
- every file under ``metrics/`` that git tracks and the experiment changed (the headline and
  report JSON files, the generated ``*.md`` tables, the CSVs), as the experiment's commit holds
  them, under the same relative path.

A document quotes an experiment from these files (tests pin the tables), never from a hand run.
Needs a git repository with a committed, clean ``params.yaml``/``dvc.yaml`` state.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
from prunelab.wiring.atomic import replace_folder  # noqa: E402  (the stages' own writes)
from prunelab.wiring.machine import cpu_model  # noqa: E402  (what the train reports name)

RECORDS = Path("metrics") / "experiments"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
RUNNING = re.compile(r"Running stage '([^']+)'")


def stage_family(shown: str) -> str:
    """``pipelines/finetune/dvc.yaml:finetune@weight-90-0`` -> ``finetune``."""
    return shown.rsplit("dvc.yaml:", 1)[-1].split("@", 1)[0]


def family_seconds(events: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds per stage family: each stage runs from its "Running stage" line to the next
    one (or ``end``); DVC's bookkeeping between stages is counted with the stage before."""
    totals: dict[str, float] = {}
    for (start, stage), (stop, _) in zip(events, events[1:] + [(end, "")], strict=True):
        family = stage_family(stage)
        totals[family] = round(totals.get(family, 0.0) + stop - start, 1)
    return totals


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def echoed_events(lines: Iterable[str]) -> tuple[list[tuple[float, str]], float]:
    """Echo DVC's output lines as they come; the ("Running stage" second, stage) events and
    the seconds in all."""
    started = time.monotonic()
    events: list[tuple[float, str]] = []
    for line in lines:
        print(line, end="", flush=True)
        found = RUNNING.search(line)
        if found:
            events.append((time.monotonic() - started, found.group(1)))
    return events, time.monotonic() - started


def run_experiment(name: str, overrides: list[str], targets: list[str], force: bool = False
                   ) -> tuple[list[tuple[float, str]], float]:
    """Run it, echoing DVC's output; the ("Running stage" time, stage) events and the wall
    time. ``force``: every stage runs, none is restored from the run-cache."""
    command = [sys.executable, "-m", "dvc", "exp", "run", "--temp", "-n", name]
    if force:
        command.append("--force")
    for override in overrides:
        command += ["-S", override]
    command += targets
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        assert process.stdout is not None
        events, wall = echoed_events(process.stdout)
    if process.returncode != 0:
        sys.exit(f"record_experiment: error: dvc exp run failed (exit {process.returncode}); "
                 "nothing was recorded")
    return events, wall


def experiment_commit(name: str) -> str:
    """The commit DVC made for the experiment ``name`` (its ref ends with /<name>)."""
    refs = git("for-each-ref", "--format=%(refname) %(objectname)", "refs/exps").split("\n")
    matches = [line.split()[1] for line in refs if line.split() and
               line.split()[0].rsplit("/", 1)[-1] == name]
    if len(matches) != 1:
        sys.exit(f"record_experiment: error: {len(matches)} experiments named {name!r} "
                 "(`dvc exp remove` the old one, or choose another name)")
    return matches[0]


def record(name: str, overrides: list[str], root: Path, targets: list[str] | None = None,
           existing: bool = False, force: bool = False) -> Path:
    """Run the experiment and write its record; return the record's folder. ``existing``:
    record the experiment of that name that DVC already holds (an earlier run whose recording
    failed), untimed, instead of running it. ``force``: run every stage (none restored from
    the run-cache) and replace DVC's experiment of that name, if any."""
    if existing and force:
        sys.exit("record_experiment: error: --existing records a finished run and --force "
                 "runs it again: give one of them")
    if not _NAME.fullmatch(name):
        sys.exit(f"record_experiment: error: name {name!r}: use lower-case letters, digits and "
                 "dashes (it becomes a folder and a git ref)")
    if git("status", "--porcelain", "--", "params.yaml", "dvc.yaml", "pipelines").strip():
        sys.exit("record_experiment: error: params.yaml or a dvc.yaml has uncommitted changes: "
                 "an experiment runs on a commit, so commit them first")
    targets = targets or []
    events: list[tuple[float, str]] = []
    wall: float | None = None
    if existing:
        commit = experiment_commit(name)
        base = git("rev-parse", f"{commit}^").strip()
    else:
        base = git("rev-parse", "HEAD").strip()
        events, wall = run_experiment(name, overrides, targets, force)
        commit = experiment_commit(name)

    def changed(kind: str) -> list[str]:
        """Files under metrics/ the experiment changed or added (``d``: all but deleted) or
        deleted (``D``), records aside."""
        return [path for path in git("diff", "--name-only", f"--diff-filter={kind}", base,
                                     commit, "--", "metrics").split()
                if not path.startswith(f"{RECORDS.as_posix()}/")]

    folder = root / RECORDS / name
    files = {path: subprocess.run(["git", "show", f"{commit}:{path}"], check=True,
                                  capture_output=True).stdout for path in changed("d")}
    record_json = {
        "name": name,
        "overrides": overrides,
        "targets": targets,
        "commit": base,
        "experiment_commit": commit,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "wall_seconds": None if wall is None else round(wall, 1),
        "stage_seconds": None if wall is None else family_seconds(events, wall),
        "stages_run": None if wall is None else len(events),
        "files": sorted(files),
        "deleted": changed("D"),  # files the experiment's params no longer make
    }
    # All or nothing: the new record replaces an old one of the same name only once complete.
    with replace_folder(folder) as staging:
        for path, content in files.items():
            target = staging / Path(path).relative_to("metrics")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        (staging / "record.json").write_text(json.dumps(record_json, indent=2) + "\n")
    timed = "untimed" if wall is None else f"{wall:.0f} s"
    print(f"record_experiment: {name}: {len(files)} files, {timed} -> {folder}")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the experiment's name: its folder under metrics/experiments")
    parser.add_argument("-S", "--set-param", dest="overrides", action="append", default=[],
                        help="a params override, as for `dvc exp run -S` (repeatable)")
    parser.add_argument("--target", dest="targets", action="append", default=[],
                        help="run only this stage and its upstream (repeatable; default: all)")
    parser.add_argument("--existing", action="store_true",
                        help="record the experiment DVC already holds under NAME, untimed")
    parser.add_argument("--force", action="store_true",
                        help="run every stage again (none from the run-cache), to time a "
                             "re-record; replaces DVC's experiment of that name")
    args = parser.parse_args(argv)
    record(args.name, args.overrides, Path.cwd(), args.targets, args.existing, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
