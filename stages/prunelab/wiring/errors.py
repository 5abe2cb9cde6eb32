"""The error types a stage reports as one line (see :func:`prunelab.wiring.entry.run_stage`).

A leaf module: the stage prologue knows every known error without importing the IDX parser or
the weights module that raise them.
"""


class StageError(RuntimeError):
    """A problem with a stage's inputs or arguments; the message says what to do."""


class IdxError(ValueError):
    """Bytes that are not a well-formed IDX file of unsigned bytes."""


class WeightsError(ValueError):
    """A weights file that is missing, unreadable or empty; the message names it and the fix."""
