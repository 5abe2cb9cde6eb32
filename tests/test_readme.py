"""The documents come from the committed files, not from someone's memory: the report's tables
are the committed metrics tables, and the README's figures about the code are true.

The tables are compared with the versions committed at HEAD, not with the workspace: after
`make repro` on another CPU the workspace holds that machine's timings (fine-tuning seconds,
latencies), which are correct for it and rightly differ from the committed run the README
quotes. Without git (an exported tree) the workspace copy is all there is.
"""

from __future__ import annotations

import json
import re
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
     "metrics/speed.md", "metrics/frontier.md", "metrics/cost.md"],
)
def test_the_report_shows_the_committed_tables(table: str) -> None:
    committed = table_rows(committed_text(table))
    report = set(table_rows((ROOT / "REPORT.md").read_text()))
    assert committed, f"{table} has no table: run `dvc repro`"
    missing = [row for row in committed if row not in report]
    assert not missing, f"REPORT.md is out of date with {table}, e.g. {missing[0]}"


def test_the_readme_is_a_manual_of_at_most_350_lines() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 350


@pytest.mark.parametrize("document", ["README.md", "REPORT.md", "OPERATIONS.md"])
def test_every_local_link_and_quoted_path_exists(document: str) -> None:
    """Links to files, and `stages/...`, `tools/...`, `tests/...` paths quoted in backticks."""
    text = (ROOT / document).read_text()
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
    quoted = re.findall(r"`((?:stages|tools|tests|pipelines)/[\w/.-]+\.(?:py|sh|yaml))`", text)
    missing = sorted({path for path in links + quoted if not (ROOT / path).exists()})
    assert not missing, f"{document} names files that do not exist: {missing}"


@pytest.mark.parametrize("document", ["README.md", "REPORT.md", "OPERATIONS.md"])
def test_every_table_has_its_delimiter_row(document: str) -> None:
    """A table pasted without its ``|---|`` row renders as a paragraph of pipes."""
    lines = (ROOT / document).read_text().splitlines()
    broken = [number for number, (before, line, after) in
              enumerate(zip([""] + lines, lines, lines[1:] + [""]), start=1)
              if line.startswith("|") and after.startswith("|") and not before.startswith("|")
              and not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", after)]
    assert not broken, f"{document}: tables without a delimiter row at lines {broken}"


def test_the_readme_headlines_are_the_committed_metrics() -> None:
    """Every figure of the README's "what it found" list is in the committed headline file it
    names or in one of the accuracy or frontier headlines."""
    readme = (ROOT / "README.md").read_text()
    found = readme.split("What it found", 1)[1].split("## Quick start", 1)[0]
    figures = set(re.findall(r"\b0\.\d{2,4}\b|\b\d+\.\d+(?=×)", found))
    assert len(figures) >= 8
    committed = set()
    for folder in ("metrics/accuracy", "metrics/frontier"):
        for path in sorted((ROOT / folder).glob("*.json")):
            committed.update(str(value) for value in
                             json.loads(committed_text(f"{folder}/{path.name}")).values())
    assert figures <= committed, sorted(figures - committed)
    # Counts of weights come from the width study's committed table.
    counts = set(re.findall(r"\b\d{1,3}(?:,\d{3})+\b", found))
    assert counts <= set(re.findall(r"\b\d{1,3}(?:,\d{3})+\b",
                                    committed_text("metrics/width/study.md"))), counts


def test_the_report_shows_every_recorded_table_it_names() -> None:
    """A table of a recorded experiment (tools/record_experiment.py) is quoted from its file:
    every row of each `metrics/experiments/<name>/<table>.md` the report names is in it."""
    report = (ROOT / "REPORT.md").read_text()
    rows = set(table_rows(report))
    for path in sorted(set(re.findall(r"`(metrics/experiments/[\w-]+/[\w/-]+\.md)`", report))):
        recorded = table_rows(committed_text(path))
        assert recorded, f"{path} has no table"
        missing = [row for row in recorded if row not in rows]
        assert not missing, f"REPORT.md is out of date with {path}, e.g. {missing[0]}"


#: Accuracies the report quotes from outside the lab, each with the source its sentence names.
EXTERNAL_ACCURACIES = {
    # ../shared/NOTES.md: the best public one-shot solutions of this exercise.
    **dict.fromkeys(["0.8045", "0.5962", "0.4113", "0.1609", "0.8142", "0.5599", "0.3021",
                     "0.805", "0.596", "0.161", "0.560", "0.302", "0.863", "0.8762"],
                    "../shared/NOTES.md"),
    # "Neuron Merging: Compensating for Pruned Neurons" (Kim et al., NeurIPS 2020).
    **dict.fromkeys(["0.8869", "0.8692", "0.8275", "0.8002", "0.8840", "0.8517", "0.7126",
                     "0.6676"], "Neuron Merging"),
}


def numbers_of(text: str, path: str) -> set[str]:
    """A metrics file's numbers as the documents print them: JSON values with 2 to 4 decimals,
    the decimals written in a Markdown table."""
    numbers: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            numbers.update(f"{value:.{digits}f}" for digits in (2, 3, 4))

    if path.endswith(".json"):
        walk(json.loads(text))
    elif path.endswith(".md"):
        numbers.update(re.findall(r"\d+\.\d+", text))
    return numbers


def committed_numbers(document: str) -> set[str]:
    """The numbers of every committed metrics file, and of the files of earlier runs the
    document names as `git show <commit>:<path>`."""
    listed = subprocess.run(["git", "ls-files", "metrics"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.split()
    paths = listed or [str(p.relative_to(ROOT)) for p in (ROOT / "metrics").rglob("*")]
    numbers = set().union(*(numbers_of(committed_text(path), path) for path in paths
                            if path.endswith((".json", ".md"))))
    for commit, path in re.findall(r"`git show ([0-9a-f]{7,40}):(metrics/[\w/.+-]+)`", document):
        shown = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True,
                               text=True, check=True)
        numbers |= numbers_of(shown.stdout, path)
    return numbers


def prose(text: str) -> list[str]:
    """The lines of ``text`` outside code blocks and tables."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return [line for line in text.splitlines() if not line.startswith("|")]


@pytest.mark.parametrize("document", ["README.md", "REPORT.md"])
def test_every_accuracy_in_the_prose_is_in_a_committed_file(document: str) -> None:
    """An accuracy (0.xxx or 0.xxxx) that a sentence quotes is a figure of a committed metrics
    file (the default run's or a recorded experiment's; an earlier run's the sentence names as
    `git show <commit>:<path>`), or one of the outside figures above."""
    text = (ROOT / document).read_text()
    numbers = committed_numbers(text)
    unsourced = sorted({number for line in prose(text)
                        for number in re.findall(r"(?<![\d.])0\.\d{3,4}(?!\d)", line)
                        if number not in numbers and number not in EXTERNAL_ACCURACIES})
    assert not unsourced, f"{document} quotes accuracies no committed file holds: {unsourced}"
