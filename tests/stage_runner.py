"""The one way the tests run a stage script: its ``main`` with a command line, in this process,
stdout and stderr captured (``stages/`` is on the tests' import path, as it is first on the
path of `python stages/<script>.py`). In-process, so a test can monkeypatch what the stage calls;
the result reads like a finished subprocess."""

from __future__ import annotations

import contextlib
import importlib
import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class StageRun:
    returncode: int
    stdout: str
    stderr: str


def run_stage(script: str, *args: str) -> StageRun:
    """``stages/<script>.py``'s ``main(args)``; its exit code and what it printed."""
    module = importlib.import_module(script)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = module.main([str(arg) for arg in args])
    return StageRun(code, out.getvalue(), err.getvalue())


def modules_loaded_by(script: str, *args: str, roots: tuple[str, ...]) -> list[str]:
    """The modules under ``roots`` (``"tensorflow"``, ``"prunelab.data.idx"``) that running the
    stage loads. In a fresh interpreter: in this one, the tests' own imports would hide them.
    Fails the test if the stage fails."""
    code = (
        "import sys; sys.path.insert(0, 'stages'); import importlib;"
        f"rc = importlib.import_module({script!r}).main({[str(a) for a in args]!r});"
        "assert rc == 0, rc;"
        f"roots = {roots!r};"
        "loaded = [m for m in sys.modules if any(m == r or m.startswith(r + '.') for r in roots)];"
        "print('LOADED:' + ','.join(sorted(loaded)))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    line = result.stdout.splitlines()[-1]
    assert line.startswith("LOADED:"), result.stdout
    return [name for name in line.removeprefix("LOADED:").split(",") if name]
