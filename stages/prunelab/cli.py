"""The command line the evaluating and plotting stages share: ``--params`` and path flags.

A stage lists its path flags with their help text; every one is read as a :class:`Path`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def stage_parser(
    docstring: str, required: dict[str, str], optional: dict[str, str] | None = None
) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of the stage's ``docstring``, with
    ``--params`` (default ``params.yaml``), then the ``required`` path flags, then the
    ``optional`` ones, each ``{flag: help}`` in order."""
    parser = argparse.ArgumentParser(description=docstring.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    for flag, text in required.items():
        parser.add_argument(flag, type=Path, required=True, help=text)
    for flag, text in (optional or {}).items():
        parser.add_argument(flag, type=Path, help=text)
    return parser
