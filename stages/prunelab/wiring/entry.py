"""The one prologue every stage script shares: its arguments, and known input problems as one
clear line.

A stage's ``main`` raises :class:`StageError` (or a library's own error for a bad params file,
weights file or IDX file); :func:`run_stage` prints ``<stage>: error: <message>`` on stderr and
returns exit code 1, so DVC stops with the message instead of a traceback. Outputs are written
all or nothing by the stages themselves, so a failure leaves no half-written file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from prunelab.wiring.errors import IdxError, StageError, WeightsError
from prunelab.wiring.params import ParamsError, parse_choice, parse_percent, parse_seed

KNOWN_ERRORS = (StageError, ParamsError, WeightsError, IdxError)


def prepare_tensorflow() -> None:
    """Environment for TensorFlow, set before it is imported: no C++ start-up chatter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_stage(
    stage: str, body: Callable[[], None], also: tuple[type[Exception], ...] = ()
) -> int:
    """Run ``body``; return 0, or 1 after printing a known error as ``<stage>: error: ...``.

    Known are :data:`KNOWN_ERRORS` and the stage's own error classes in ``also``.
    """
    try:
        body()
    except KNOWN_ERRORS + also as error:
        print(f"{stage}: error: {error}", file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def input_problem(advice: str) -> Iterator[None]:
    """Turn a library's ``ValueError`` raised in the block into a :class:`StageError` that ends
    with ``advice`` (which setting to change)."""
    try:
        yield
    except ValueError as error:
        raise StageError(f"{error}: {advice}") from None


def stage_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--params`` option every stage takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    return parser


def add_path_arguments(parser: argparse.ArgumentParser, **helps: str) -> None:
    """One required path option per keyword, in order: ``live_dir="..."`` adds ``--live-dir``
    with that help text."""
    for name, help_text in helps.items():
        option = "--" + name.replace("_", "-")
        parser.add_argument(option, type=Path, required=True, help=help_text)


def add_instance_arguments(parser: argparse.ArgumentParser, method_help: str) -> None:
    """``--method``, ``--k`` and ``--seed``: which (method, k, seed) instance a stage makes.

    Read as strings and checked by :func:`parse_instance` after the params file, so every bad
    value gets the stage's own message and exit code 1 (argparse would exit with 2).
    """
    parser.add_argument("--method", required=True, help=method_help)
    parser.add_argument("--k", required=True, help="percentage to prune, an integer in [0, 100)")
    parser.add_argument("--seed", required=True, help="the model's training seed")


def parse_instance(args: argparse.Namespace, methods: tuple[str, ...]) -> tuple[str, int, int]:
    """The checked ``(method, k, seed)`` of :func:`add_instance_arguments`, in that order."""
    method = parse_choice("--method", args.method, methods)
    k = parse_percent("--k", args.k)
    seed = parse_seed("--seed", args.seed, args.params)
    return method, k, seed


def paths_parser(
    docstring: str, required: dict[str, str], optional: dict[str, str] | None = None
) -> argparse.ArgumentParser:
    """For the aggregating stages (evaluate, sensitivity, plot): a parser described by the first
    paragraph of the stage's ``docstring``, with ``--params`` (default ``params.yaml``), then the
    ``required`` path flags, then the
    ``optional`` ones, each ``{flag: help}`` in order."""
    parser = argparse.ArgumentParser(description=docstring.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    for flag, text in required.items():
        parser.add_argument(flag, type=Path, required=True, help=text)
    for flag, text in (optional or {}).items():
        parser.add_argument(flag, type=Path, help=text)
    return parser
