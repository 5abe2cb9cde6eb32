"""tools/repro_clock.py on a known log: seconds per stage family, DVC's bookkeeping included."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import repro_clock  # noqa: E402

LOG = """\
23:59:50 Running stage 'validate_params':
23:59:52 Updating lock file 'dvc.lock'
23:59:55 Running stage 'train@0':
00:00:55 epoch 1/1
00:01:05 Running stage 'pipelines/prune/dvc.yaml:prune@weight-90-0':
00:01:07 Running stage 'pipelines/prune/dvc.yaml:prune@unit-90-0':
00:01:10 Use `dvc push` to send your updates to remote storage.
"""


def test_a_replayed_log_gives_seconds_per_family_past_midnight():
    events, wall = repro_clock.replayed_events(LOG.splitlines())
    assert wall == 80
    assert events[1] == (5, "train@0")
    figures = repro_clock.cost(events, wall)
    assert figures["stages_run"] == 4 and figures["wall_seconds"] == 80
    assert figures["families"] == {
        "validate_params": {"instances": 1, "seconds": 5.0},
        "train": {"instances": 1, "seconds": 70.0},
        "prune": {"instances": 2, "seconds": 5.0},
    }


def test_the_file_is_written_only_when_a_stage_ran(tmp_path):
    log = tmp_path / "repro.log"
    log.write_text(LOG)
    assert repro_clock.main([str(tmp_path / "cost.json"), "--replay", str(log)]) == 0
    assert json.loads((tmp_path / "cost.json").read_text())["stages_run"] == 4
    table = (tmp_path / "cost.md").read_text()
    assert "| `prune` | 2 | 5 s | 2.5 s |" in table and "| all | 4 | 80 s |  |" in table
    log.write_text("10:00:00 Stage 'train@0' didn't change, skipping\n")
    assert repro_clock.main([str(tmp_path / "none.json"), "--replay", str(log)]) == 0
    assert not (tmp_path / "none.json").exists()
