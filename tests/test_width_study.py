"""The width study's table (tools/width_study.py): its rule on known numbers, and the committed
table regenerated from the committed records and the default run."""

from __future__ import annotations

import json
import sys

import pytest
from test_readme import ROOT, committed_text, table_rows

sys.path.insert(0, str(ROOT / "tools"))
import width_study  # noqa: E402


def entry(accuracy: float, kept: float) -> dict:
    return {"test_accuracy": accuracy, "test_accuracy_min": accuracy,
            "test_accuracy_max": accuracy, "effective_nonzero_params": kept}


def test_largest_k_within_counts_the_boundary_and_skips_a_dip():
    entries = {"0": entry(0.90, 100), "50": entry(0.89, 50), "70": entry(0.87, 30),
               "90": entry(0.881, 10)}
    # 0.89 is exactly 1 point below; 90 is within 2 points though 70 is not: the largest k
    # within counts, as the table says.
    assert width_study.largest_within(entries, 0.90, 1) == "50"
    assert width_study.largest_within(entries, 0.90, 2) == "90"
    assert width_study.largest_within(entries, 0.95, 1) is None


def test_a_recorded_width_is_read_from_its_record(tmp_path):
    folder = tmp_path / "metrics" / "experiments" / "width-lenet"
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps({
        "overrides": ["prune.ks=[0,50]", "model.hidden=[300, 100]"], "wall_seconds": 61.0,
        "cpu": "Test CPU", "stages_run": 9}))
    report = {"dense": entry(0.89, 266_200),
              **{method: {"0": entry(0.89, 266_200), "50": entry(0.885, 133_000)}
                 for method in width_study.METHODS}}
    (folder / "pruning.json").write_text(json.dumps(report))
    read = width_study.workspace_reader(tmp_path)
    hidden, loaded, meta = width_study.load_width(read, "width-lenet")
    assert (hidden, loaded, meta["wall_seconds"]) == ([300, 100], report, 61.0)
    assert width_study.load_width(read, "width-double") is None


def test_a_change_replaces_the_study_override_of_its_key_and_the_run_list_names_it():
    changes = ["train.seeds=[0]", "finetune.ks=[]", "gradual.ks=[]"]
    overrides = width_study.study_overrides("[2000,2000,1000,400]", changes)
    assert overrides[0] == "model.hidden=[2000,2000,1000,400]"
    assert "finetune.ks=[]" in overrides and "finetune.ks=[90]" not in overrides
    # Replaced in place, added after the study's: one override per key, the study's order kept.
    keys = [override.split("=", 1)[0] for override in overrides]
    assert len(keys) == len(set(keys)) and keys[-2:] == ["train.seeds", "gradual.ks"]
    assert width_study.departures({"overrides": overrides}) == [
        "finetune.ks=[]", "train.seeds=[0]", "gradual.ks=[]"]
    assert width_study.seeds_label("× 2", {"overrides": overrides}) == "× 2 (1 seed)"
    plain = width_study.study_overrides("[300,100]", [])
    assert width_study.seeds_label("× ½", {"overrides": plain}) == "× ½"
    assert width_study.seeds_label("× 1", None) == "× 1"
    assert plain[1:] == list(width_study.ONE_SHOT_OVERRIDES)
    assert width_study.departures({"overrides": plain}) == []


def committed_or_none(path: str) -> str | None:
    try:
        return committed_text(path)
    except FileNotFoundError:
        return None


def test_the_committed_width_table_is_what_the_committed_files_give():
    assert width_study.table(committed_or_none) == committed_text("metrics/width/study.md"), (
        "metrics/width/study.md is stale: python tools/width_study.py")


def test_the_report_shows_the_width_table():
    rows = set(table_rows((ROOT / "REPORT.md").read_text()))
    missing = [row for row in table_rows(committed_text("metrics/width/study.md"))
               if row not in rows]
    assert not missing, f"REPORT.md is out of date with metrics/width/study.md: {missing[0]}"


def test_the_recorder_runs_every_stage_again_only_when_forced(monkeypatch):
    """``--force`` passes DVC's ``-f`` (no stage restored from the run-cache, so the record
    times the work); without it DVC may restore; with ``--existing`` it is refused."""
    record_experiment = width_study.record_experiment
    commands = []

    class FakeDvc:
        def __init__(self, command, **_):
            commands.append(command)
            self.stdout, self.returncode = iter(["Running stage 'train@0':\n"]), 0

        def __enter__(self):
            return self

        def __exit__(self, *_):
            return False

    monkeypatch.setattr(record_experiment.subprocess, "Popen", FakeDvc)
    for force in (False, True):
        record_experiment.run_experiment("x", ["train.seeds=[0]"], ["evaluate"], force)
    assert [("--force" in command) for command in commands] == [False, True]
    assert commands[1][-3:] == ["-S", "train.seeds=[0]", "evaluate"]
    with pytest.raises(SystemExit, match="give one of them"):
        record_experiment.record("x", [], ROOT, existing=True, force=True)
