"""The ``benchmark`` section: which networks are timed, on what inputs, for how long."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prunelab.wiring.names import CONTROL_METHOD, parse_curve_name
from prunelab.wiring.params import Field, Section, int_at_least, number_in, unique_list


def _is_curve_name(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_curve_name(value)
    except ValueError:
        return False
    return True


_CURVE = Field(_is_curve_name, "<method>, <method>+ft, <method>+gradual, unit+scratch, "
                               "weight+lottery or weight+reinit")


@dataclass(frozen=True)
class BenchmarkParams:
    curves: tuple[str, ...]
    random_input_curves: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    repeats: int
    warmup: int
    cell_budget_s: float


def _made_curve(raw: dict[str, Any], schedule: str | None, method: str) -> tuple[bool, str]:
    """Whether a stage makes the curve ``(schedule, method)``, and what to add if not."""
    if schedule in CONTROL_METHOD:
        section = "lottery" if schedule == "reinit" else schedule
        made = method == CONTROL_METHOD[schedule] and bool(raw[section]["ks"])
        return made, f"a k to {section}.ks ({schedule} is of {CONTROL_METHOD[schedule]} only)"
    sections = {None: ("prune", "reconstruct"), "oneshot": ("finetune",),
                "gradual": ("gradual",)}[schedule]
    made = any(method in raw[section]["methods"] for section in sections)
    return made, f"{method!r} to " + " or ".join(f"{section}.methods" for section in sections)


def _timed_curves_are_made(raw: dict[str, Any]) -> list[str]:
    """Every curve the benchmark times must be one the pipeline makes, and the random-input
    curves a subset of the timed ones."""
    problems = []
    timed = raw["benchmark"]["curves"]
    for name in timed:
        made, fix = _made_curve(raw, *parse_curve_name(name))
        if not made:
            problems.append(
                f"'benchmark.curves' has {name!r}, which no stage makes: add {fix} or drop "
                f"{name!r} from benchmark.curves"
            )
    extra = [name for name in raw["benchmark"]["random_input_curves"] if name not in timed]
    if extra:
        problems.append(
            f"'benchmark.random_input_curves' has {extra}, which benchmark.curves does not time: "
            "add them to benchmark.curves or drop them from benchmark.random_input_curves"
        )
    return problems


BENCHMARK = Section("benchmark", {
    "curves": unique_list(_CURVE, "curve names"),
    "random_input_curves": unique_list(_CURVE, "curve names", may_be_empty=True),
    "batch_sizes": unique_list(int_at_least(1), "batch sizes"),
    "repeats": int_at_least(3),
    "warmup": int_at_least(0),
    "cell_budget_s": number_in(0, 60, low_open=True, high_open=False),
}, BenchmarkParams, (_timed_curves_are_made,))
