"""The README's results come from the committed metrics, not from someone's memory."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and line.endswith(" |")]


@pytest.mark.parametrize(
    "table",
    ["metrics/results.md", "metrics/finetune.md", "metrics/sensitivity.md", "metrics/speed.md"],
)
def test_readme_shows_the_committed_tables(table: str) -> None:
    committed = table_rows((ROOT / table).read_text())
    readme = set(table_rows((ROOT / "README.md").read_text()))
    assert committed, f"{table} has no table: run `dvc repro`"
    missing = [row for row in committed if row not in readme]
    assert not missing, f"README.md is out of date with {table}, e.g. {missing[0]}"
