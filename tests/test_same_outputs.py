"""tools/same_outputs.py: two labs' outputs compared, timings aside."""

from __future__ import annotations

import json
from pathlib import Path

from same_outputs import differences


def lab(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def test_only_timings_may_differ(tmp_path: Path) -> None:
    common = {"data/pruned/seed-0/weight/90.npz": b"net", "metrics/controls.md": b"| 0.9, 12 s |",
              "metrics/finetune.md": b"| weight | 90 | 2 s |"}
    old = lab(tmp_path / "old", {**common, "metrics/train/seed-0.json": json.dumps(
        {"test_accuracy": 0.9, "train_seconds": 12.0}).encode(), "metrics/benchmark.csv": b"1"})
    new = lab(tmp_path / "new", {**common, "metrics/train/seed-0.json": json.dumps(
        {"test_accuracy": 0.9, "train_seconds": 15.5}).encode(), "metrics/benchmark.csv": b"2",
        "data/params.valid": b"params valid\n"})
    (new / "metrics/controls.md").write_bytes(b"| 0.9, 14 s |")
    (new / "metrics/finetune.md").write_bytes(b"| weight | 90 | 1 s |")
    assert differences(old, new) == ([], 5)


def test_a_moved_network_or_accuracy_is_reported(tmp_path: Path) -> None:
    old = lab(tmp_path / "old", {"data/models/seed-0/dense.npz": b"a",
                                 "metrics/pruning.json": b'{"acc": 0.9}'})
    new = lab(tmp_path / "new", {"data/models/seed-0/dense.npz": b"b",
                                 "metrics/pruning.json": b'{"acc": 0.8}'})
    moved, compared = differences(old, new)
    assert compared == 2
    assert [line.split(" (")[0] for line in moved] == [
        "differs: data/models/seed-0/dense.npz", "differs: metrics/pruning.json"]
