"""The one prologue every stage script shares: known input problems become one clear line.

A stage's ``main`` raises :class:`StageError` (or a library's own error for a bad params file,
weights file or IDX file); :func:`run_stage` prints ``<stage>: error: <message>`` on stderr and
returns exit code 1, so DVC stops with the message instead of a traceback. Outputs are written
all or nothing by the stages themselves, so a failure leaves no half-written file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from prunelab.idx import IdxError
from prunelab.params import ParamsError
from prunelab.weights import WeightsError


class StageError(RuntimeError):
    """A problem with a stage's inputs or arguments; the message says what to do."""


KNOWN_ERRORS = (StageError, ParamsError, WeightsError, IdxError)


def prepare_tensorflow() -> None:
    """Environment for TensorFlow, set before it is imported: no C++ start-up chatter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_stage(stage: str, body: Callable[[], None]) -> int:
    """Run ``body``; return 0, or 1 after printing a known error as ``<stage>: error: ...``."""
    try:
        body()
    except KNOWN_ERRORS as error:
        print(f"{stage}: error: {error}", file=sys.stderr)
        return 1
    return 0
