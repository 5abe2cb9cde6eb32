"""The README's results come from the committed metrics, not from someone's memory.

The tables are compared with the versions committed at HEAD, not with the workspace: after
`make repro` on another CPU the workspace holds that machine's timings (fine-tuning seconds,
latencies), which are correct for it and rightly differ from the committed run the README
quotes. Without git (an exported tree) the workspace copy is all there is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and line.endswith(" |")]


def committed_text(path: str) -> str:
    """``path`` as committed at HEAD; the workspace file when git has no committed version."""
    shown = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True,
                           text=True, check=False)
    return shown.stdout if shown.returncode == 0 else (ROOT / path).read_text()


@pytest.mark.parametrize(
    "table",
    ["metrics/results.md", "metrics/finetune.md", "metrics/controls.md", "metrics/sensitivity.md",
     "metrics/speed.md", "metrics/frontier.md"],
)
def test_readme_shows_the_committed_tables(table: str) -> None:
    committed = table_rows(committed_text(table))
    readme = set(table_rows((ROOT / "README.md").read_text()))
    assert committed, f"{table} has no table: run `dvc repro`"
    missing = [row for row in committed if row not in readme]
    assert not missing, f"README.md is out of date with {table}, e.g. {missing[0]}"
