"""The names of the methods and schedules, apart from the code that implements them.

A leaf module: validating params, parsing a stage's ``--method`` and naming curves need the names
but none of the pruning, reconstruction or training code, so they import this and not that.
"""

# The one-shot magnitude methods of prunelab.pruning.masks: each hidden matrix on its own (weight,
# unit) and the two baselines with weight's counts (random positions, one global threshold).
PRUNE_METHODS = ("weight", "unit", "random", "global")
# The data-aware one-shot methods of prunelab.pruning.reconstruct: the magnitude mask with the
# kept weights re-solved, units with the next matrix re-solved, and Wanda's scores.
RECONSTRUCT_METHODS = ("weight_refit", "unit_refit", "wanda")
# "oneshot": prune, then retrain with the mask fixed; "gradual": sparsity rises from 0 to k
# along Zhu & Gupta's cubic schedule while training. The controls train for the dense network's
# whole schedule: "scratch", unit pruning's compact widths from a fresh initialisation; "lottery",
# weight pruning's mask on the seed's initial weights; "reinit", that mask on another
# initialisation.
FINETUNE_SCHEDULES = ("oneshot", "gradual", "scratch", "lottery", "reinit")
# The pruning method whose networks each control stands beside (the one it takes its
# architecture or mask from).
CONTROL_METHOD = {"scratch": "unit", "lottery": "weight", "reinit": "weight"}
# The layer-wise magnitude methods: the only ones pruning one matrix at a time (sensitivity)
# and the ones worth timing (the baselines have the same sparsity patterns' statistics).
SENSITIVITY_METHODS = ("weight", "unit")
# The label a fine-tuning schedule gets after the method name in a curve's name.
SCHEDULE_SUFFIX = {"oneshot": "ft", "gradual": "gradual", "scratch": "scratch",
                   "lottery": "lottery", "reinit": "reinit"}


def curve_name(schedule: str | None, method: str) -> str:
    """A curve's name in headline files, plots and ``benchmark.curves``: ``weight`` (one-shot),
    ``weight+ft`` (one-shot, then fine-tuned), ``weight+gradual``."""
    if schedule is None:
        return method
    return f"{method}+{SCHEDULE_SUFFIX.get(schedule, schedule)}"


def parse_curve_name(name: str) -> tuple[str | None, str]:
    """``(schedule, method)`` of a :func:`curve_name`; ``schedule`` is None for a one-shot
    curve. Raises ValueError for a name no schedule and method make."""
    method, plus, suffix = name.partition("+")
    schedules = {label: schedule for schedule, label in SCHEDULE_SUFFIX.items()}
    if plus and suffix in schedules and method:
        return schedules[suffix], method
    if not plus and method:
        return None, method
    raise ValueError(f"{name!r} is not a curve name: <method> or <method>+<schedule>, the "
                     f"schedule one of {', '.join(SCHEDULE_SUFFIX.values())}")
