"""The wall time of a `dvc repro` per stage family, into a committed measurement file.

    dvc repro 2>&1 | python tools/repro_clock.py metrics/cost.json      (what `make repro` does)
    python tools/repro_clock.py metrics/cost.json --replay repro.log    (a log with HH:MM:SS
                                                                          stamps in front)

Echoes DVC's output as it comes, stamping each "Running stage" line with the time it arrived;
at the end it writes the JSON: the CPU, the wall time in all, and per stage family the instances
run and the seconds from DVC starting each of them to DVC starting the next (so DVC's own
bookkeeping counts with the stage before it); and beside it the same as a Markdown table
(``cost.md``), which the report shows. A run that ran no stage writes nothing: a no-op
`make repro` keeps the figures of the run that did the work.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
from record_experiment import RUNNING, echoed_events, family_seconds, stage_family  # noqa: E402

from prunelab.figures.tables import markdown  # noqa: E402
from prunelab.wiring.atomic import json_bytes, write_files  # noqa: E402
from prunelab.wiring.machine import cpu_model  # noqa: E402

_STAMP = re.compile(r"^(\d\d):(\d\d):(\d\d) ")


def replayed_events(lines: Iterable[str]) -> tuple[list[tuple[float, str]], float]:
    """The same from a log whose lines start with HH:MM:SS (a run past midnight wraps)."""
    events, first, last, offset, previous = [], None, 0.0, 0.0, None
    for line in lines:
        stamp = _STAMP.match(line)
        if not stamp:
            continue
        hours, minutes, seconds = map(int, stamp.groups())
        clock = hours * 3600 + minutes * 60 + seconds
        if previous is not None and clock < previous:
            offset += 86400
        previous = clock
        now = clock + offset
        first = now if first is None else first
        last = now - first
        found = RUNNING.search(line)
        if found:
            events.append((last, found.group(1)))
    return events, last


def cost(events: list[tuple[float, str]], wall: float) -> dict:
    counts = Counter(stage_family(stage) for _, stage in events)
    seconds = family_seconds(events, wall)
    return {
        "cpu": cpu_model(),
        "wall_seconds": round(wall, 1),
        "stages_run": len(events),
        "families": {family: {"instances": counts[family], "seconds": seconds[family]}
                     for family in seconds},
    }


def cost_table(figures: dict) -> str:
    rows = [[f"`{family}`", str(entry["instances"]), f"{entry['seconds']:.0f} s",
             f"{entry['seconds'] / entry['instances']:.1f} s"]
            for family, entry in figures["families"].items()]
    rows.append(["all", str(figures["stages_run"]), f"{figures['wall_seconds']:.0f} s", ""])
    preamble = [
        "# Cost of the last `make repro` that ran stages",
        "",
        f"{figures['cpu']}; each stage counted from DVC starting it to DVC starting the next "
        "(DVC's bookkeeping included). Written by `tools/repro_clock.py`.",
        "",
    ]
    return markdown(preamble, ["stage family", "instances", "wall time", "per instance"],
                    ["---", "---:", "---:", "---:"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the JSON to write")
    parser.add_argument("--replay", type=Path, help="a log with HH:MM:SS stamps, not stdin")
    args = parser.parse_args(argv)
    if args.replay:
        events, wall = replayed_events(args.replay.read_text().splitlines())
    else:
        events, wall = echoed_events(sys.stdin)
    if events:
        figures = cost(events, wall)
        write_files({args.out: json_bytes(figures),
                     args.out.with_suffix(".md"): cost_table(figures).encode()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
