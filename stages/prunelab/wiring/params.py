"""Loading and validation of ``params.yaml``: the one place that knows its schema.

Every stage calls :func:`load_params` first, so a typo or an out-of-range value stops the
pipeline with a message naming the key and the allowed values before any work is done. What it
returns is a :class:`Params`: frozen dataclasses, one per section, lists made tuples, so no
stage can change a setting or misspell a key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from prunelab.wiring.names import (
    CONTROL_METHOD,
    PRUNE_METHODS,
    RECONSTRUCT_METHODS,
    SENSITIVITY_METHODS,
    parse_curve_name,
)

DATASETS = ("fashion-mnist", "mnist")
LR_SCHEDULES = ("constant", "cosine")


class ParamsError(ValueError):
    """A params file that does not match the schema; the message names the key and the fix."""


@dataclass(frozen=True)
class Field:
    """One leaf of the schema: its checker, and a human description of what it allows."""

    check: Callable[[Any], bool]
    allowed: str


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _int_at_least(low: int) -> Field:
    return Field(lambda v: _is_int(v) and v >= low, f"an integer >= {low}")


def _number_in(low: float, high: float, *, low_open: bool, high_open: bool) -> Field:
    def check(value: Any) -> bool:
        if not _is_number(value):
            return False
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return above and below

    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    return Field(check, f"a number in {left}{low}, {high}{right}")


def _one_of(choices: tuple[str, ...]) -> Field:
    return Field(lambda v: v in choices, "one of " + ", ".join(repr(c) for c in choices))


def _unique_list(item: Field, what: str, *, may_be_empty: bool = False) -> Field:
    def check(value: Any) -> bool:
        return (
            isinstance(value, list)
            and (may_be_empty or len(value) > 0)
            and all(item.check(v) for v in value)
            and len(set(value)) == len(value)
        )

    size = "a list (may be empty)" if may_be_empty else "a non-empty list"
    return Field(check, f"{size} without duplicates of {what} ({item.allowed})")


_PERCENTAGES_ITEM = Field(lambda v: _is_int(v) and 0 <= v < 100, "an integer in [0, 100)")
_PERCENTAGES = _unique_list(_PERCENTAGES_ITEM, "percentages")


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

SCHEMA: dict[str, dict[str, Field]] = {
    "data": {
        "dataset": _one_of(DATASETS),
        "local_dir": Field(lambda v: isinstance(v, str), 'a folder path as a string ("" to skip)'),
        "train_images": _int_at_least(0),
        "test_images": _int_at_least(0),
    },
    "train": {
        "seeds": _unique_list(_int_at_least(0), "seeds"),
        "epochs": _int_at_least(1),
        "batch_size": _int_at_least(1),
        "learning_rate": _number_in(0, 1, low_open=True, high_open=False),
        "lr_schedule": _one_of(LR_SCHEDULES),
        "weight_decay": _number_in(0, 1, low_open=False, high_open=True),
        "dropout": _number_in(0, 1, low_open=False, high_open=True),
        "validation_split": _number_in(0, 1, low_open=True, high_open=True),
        "flip_augment": Field(lambda v: isinstance(v, bool), "true or false"),
    },
    "prune": {
        "methods": _unique_list(_one_of(PRUNE_METHODS), "pruning methods"),
        "ks": _PERCENTAGES,
    },
    "reconstruct": {
        "methods": _unique_list(_one_of(RECONSTRUCT_METHODS), "pruning methods"),
        "ks": _PERCENTAGES,
        "calibration_images": _int_at_least(1),
        "ridge": _number_in(0, 1, low_open=False, high_open=True),
        "refit_logits": Field(lambda v: isinstance(v, bool), "true or false"),
    },
    "finetune": {
        "methods": _unique_list(_one_of(PRUNE_METHODS + RECONSTRUCT_METHODS), "pruning methods"),
        "ks": _PERCENTAGES,
        "epochs": _int_at_least(1),
        "batch_size": _int_at_least(1),
        "learning_rate": _number_in(0, 1, low_open=True, high_open=False),
        "dropout": _number_in(0, 1, low_open=False, high_open=True),
    },
    "gradual": {
        "methods": _unique_list(_one_of(PRUNE_METHODS), "pruning methods"),
        "ks": _PERCENTAGES,
        "ramp": _number_in(0, 1, low_open=True, high_open=False),
        "updates": _int_at_least(1),
    },
    "scratch": {
        "ks": _unique_list(_PERCENTAGES_ITEM, "percentages", may_be_empty=True),
    },
    "lottery": {
        "ks": _unique_list(_PERCENTAGES_ITEM, "percentages", may_be_empty=True),
    },
    "sensitivity": {
        "methods": _unique_list(_one_of(SENSITIVITY_METHODS), "pruning methods"),
        "ks": _PERCENTAGES,
    },
    "benchmark": {
        "curves": _unique_list(_CURVE, "curve names"),
        "random_input_curves": _unique_list(_CURVE, "curve names", may_be_empty=True),
        "batch_sizes": _unique_list(_int_at_least(1), "batch sizes"),
        "repeats": _int_at_least(3),
        "warmup": _int_at_least(0),
        "cell_budget_s": _number_in(0, 60, low_open=True, high_open=False),
    },
}


@dataclass(frozen=True)
class DataParams:
    dataset: str
    local_dir: str
    train_images: int
    test_images: int


@dataclass(frozen=True)
class TrainParams:
    seeds: tuple[int, ...]
    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: str
    weight_decay: float
    dropout: float
    validation_split: float
    flip_augment: bool


@dataclass(frozen=True)
class Grid:
    """The methods and percentages k a section makes or measures a model for: ``prune`` and
    ``sensitivity`` as they are, the other sections with their own settings added."""

    methods: tuple[str, ...]
    ks: tuple[int, ...]


@dataclass(frozen=True)
class ReconstructParams(Grid):
    calibration_images: int
    ridge: float
    refit_logits: bool


@dataclass(frozen=True)
class FinetuneParams(Grid):
    epochs: int
    batch_size: int
    learning_rate: float
    dropout: float


@dataclass(frozen=True)
class GradualParams(Grid):
    ramp: float
    updates: int


@dataclass(frozen=True)
class ControlParams:
    """The ks of a control (``scratch``, ``lottery``); its method is fixed
    (:data:`prunelab.wiring.names.CONTROL_METHOD`)."""

    ks: tuple[int, ...]


@dataclass(frozen=True)
class BenchmarkParams:
    curves: tuple[str, ...]
    random_input_curves: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    repeats: int
    warmup: int
    cell_budget_s: float


@dataclass(frozen=True)
class Params:
    """The whole params file, one attribute per section of :data:`SCHEMA`."""

    data: DataParams
    train: TrainParams
    prune: Grid
    reconstruct: ReconstructParams
    finetune: FinetuneParams
    gradual: GradualParams
    scratch: ControlParams
    lottery: ControlParams
    sensitivity: Grid
    benchmark: BenchmarkParams


def _yaml_number_hint(value: Any) -> str:
    """YAML 1.1 reads ``1e-3`` as a string; say how to write it as a number."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return " (YAML reads this as text: write a dot in the mantissa, e.g. 1.0e-3)"
    return ""


def _validate(params: Any, source: str = "params.yaml") -> None:
    """Check ``params`` (the file as YAML reads it) against :data:`SCHEMA`, or raise
    :class:`ParamsError`.

    Every problem is reported at once, each naming its dotted key and what is allowed.
    """
    if not isinstance(params, dict):
        raise ParamsError(f"{source}: expected a mapping of sections {sorted(SCHEMA)}")
    problems: list[str] = []
    for section in sorted(set(params) - set(SCHEMA)):
        problems.append(f"unknown section '{section}' (allowed: {', '.join(SCHEMA)})")
    for section, fields in SCHEMA.items():
        values = params.get(section)
        if not isinstance(values, dict):
            problems.append(f"missing section '{section}' (keys: {', '.join(fields)})")
            continue
        for key in sorted(set(values) - set(fields)):
            problems.append(
                f"unknown key '{section}.{key}' (allowed keys: {', '.join(fields)})"
            )
        for key, field in fields.items():
            if key not in values:
                problems.append(f"missing key '{section}.{key}': set it to {field.allowed}")
            elif not field.check(values[key]):
                problems.append(
                    f"'{section}.{key}' is {values[key]!r}: it must be {field.allowed}"
                    + _yaml_number_hint(values[key])
                )
    if not problems and params["data"]["dataset"] == "mnist" and params["train"]["flip_augment"]:
        problems.append(
            "'train.flip_augment' is true with data.dataset 'mnist': mirrored digits are not "
            "digits; set train.flip_augment: false"
        )
    if not problems:
        problems += (_unpruned_finetune_starts(params) + _controls_start_from_pruned_models(params)
                     + _untimed_curves(params))
    if problems:
        raise ParamsError(f"{source} is invalid:\n  - " + "\n  - ".join(problems))


def build_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate ``raw`` (the file as YAML reads it), then freeze it into a :class:`Params`."""
    _validate(raw, source)

    def section(name: str) -> dict[str, Any]:
        return {key: tuple(value) if isinstance(value, list) else value
                for key, value in raw[name].items()}

    return Params(
        data=DataParams(**section("data")),
        train=TrainParams(**section("train")),
        prune=Grid(**section("prune")),
        reconstruct=ReconstructParams(**section("reconstruct")),
        finetune=FinetuneParams(**section("finetune")),
        gradual=GradualParams(**section("gradual")),
        scratch=ControlParams(**section("scratch")),
        lottery=ControlParams(**section("lottery")),
        sensitivity=Grid(**section("sensitivity")),
        benchmark=BenchmarkParams(**section("benchmark")),
    )


def _unpruned_finetune_starts(params: dict[str, dict[str, Any]]) -> list[str]:
    """One-shot fine-tuning starts from the one-shot model of the same method and k, so that
    model must be one the prune or reconstruct stage makes."""
    made = {
        method: set(params[section]["ks"])
        for section in ("prune", "reconstruct")
        for method in params[section]["methods"]
    }
    problems = []
    for method in params["finetune"]["methods"]:
        section = "prune" if method in PRUNE_METHODS else "reconstruct"
        if method not in made:
            problems.append(
                f"'finetune.methods' has {method!r}, which {section}.methods does not make: "
                f"add it to {section}.methods or drop it from finetune.methods"
            )
            continue
        absent = sorted(set(params["finetune"]["ks"]) - made[method])
        if absent:
            problems.append(
                f"'finetune.ks' has {absent}, which {section}.ks lacks for {method!r} "
                f"(fine-tuning starts from the one-shot model): add them to {section}.ks"
            )
    return problems


def _controls_start_from_pruned_models(params: dict[str, dict[str, Any]]) -> list[str]:
    """A control at k takes its architecture (scratch) or mask (lottery) from the prune stage's
    model of its method at k, so that model must be one the prune stage makes."""
    problems = []
    for section, schedule in (("scratch", "scratch"), ("lottery", "lottery")):
        method = CONTROL_METHOD[schedule]
        ks = params[section]["ks"]
        if ks and method not in params["prune"]["methods"]:
            problems.append(f"'{section}.ks' needs {method!r} in prune.methods (it starts from "
                            f"{method} pruning's models): add it, or set {section}.ks: []")
            continue
        absent = sorted(set(ks) - set(params["prune"]["ks"]))
        if absent:
            problems.append(f"'{section}.ks' has {absent}, which prune.ks lacks (it starts from "
                            f"{method} pruning's models): add them to prune.ks")
    return problems


def _made_curve(params: dict[str, dict[str, Any]], schedule: str | None, method: str
                ) -> tuple[bool, str]:
    """Whether a stage makes the curve ``(schedule, method)``, and what to add if not."""
    if schedule in CONTROL_METHOD:
        section = "lottery" if schedule == "reinit" else schedule
        made = method == CONTROL_METHOD[schedule] and bool(params[section]["ks"])
        return made, f"a k to {section}.ks ({schedule} is of {CONTROL_METHOD[schedule]} only)"
    sections = {None: ("prune", "reconstruct"), "oneshot": ("finetune",),
                "gradual": ("gradual",)}[schedule]
    made = any(method in params[section]["methods"] for section in sections)
    return made, f"{method!r} to " + " or ".join(f"{section}.methods" for section in sections)


def _untimed_curves(params: dict[str, dict[str, Any]]) -> list[str]:
    """Every curve the benchmark times must be one the pipeline makes, and the random-input
    curves a subset of the timed ones."""
    problems = []
    timed = params["benchmark"]["curves"]
    for name in timed:
        made, fix = _made_curve(params, *parse_curve_name(name))
        if not made:
            problems.append(
                f"'benchmark.curves' has {name!r}, which no stage makes: add {fix} or drop "
                f"{name!r} from benchmark.curves"
            )
    extra = [name for name in params["benchmark"]["random_input_curves"] if name not in timed]
    if extra:
        problems.append(
            f"'benchmark.random_input_curves' has {extra}, which benchmark.curves does not time: "
            "add them to benchmark.curves or drop them from benchmark.random_input_curves"
        )
    return problems


def parse_choice(flag: str, text: str, choices: tuple[str, ...]) -> str:
    """A command-line value that must be one of ``choices``."""
    if text not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ParamsError(f"{flag} is {text!r}: it must be one of {allowed}")
    return text


def parse_percent(flag: str, text: str) -> int:
    """A command-line percentage: an integer in [0, 100), written plainly."""
    # Stricter than int(), which would also take "5_0" or " 50".
    if re.fullmatch(r"[+-]?[0-9]+", text) is None or not 0 <= int(text) < 100:
        raise ParamsError(f"{flag} is {text!r}: it must be an integer in [0, 100)")
    return int(text)


def parse_seed(flag: str, text: str, seeds: tuple[int, ...]) -> int:
    """A command-line seed, which must be one of ``train.seeds``."""
    if re.fullmatch(r"[0-9]+", text) is None or int(text) not in seeds:
        # Listed as params.yaml writes them: [0, 1, 2].
        raise ParamsError(f"{flag} is {text!r}: it must be one of train.seeds {list(seeds)}")
    return int(text)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate the params file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such params file (run from the project root)") from None
    try:
        params = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from None
    return build_params(params, str(path))


if __name__ == "__main__":
    import sys

    try:
        load_params(sys.argv[1] if len(sys.argv) > 1 else "params.yaml")
    except ParamsError as error:
        sys.exit(f"error: {error}")
    print("params.yaml: valid")
