"""Reading ``params.yaml`` and validating the sections a stage reads.

Each section's schema lives in its own module, ``prunelab.schema.<section>``, as a
:class:`Section`; a stage passes the sections it reads to :func:`load_params` and gets a
:class:`Params` holding exactly those, frozen (lists made tuples), so no stage can change a
setting, misspell a key, or read a section it did not ask for. A stage therefore runs (and
declares as DVC deps) the schema modules of its own sections only: editing one section's schema
reruns the stages that read that section, not the whole pipeline. The whole file, cross-section
rules included, is checked by :mod:`prunelab.schema.every_section` (the ``validate_params`` stage
at the root of the DAG, and ``make repro`` before DVC starts).

Every problem names its dotted key and what is allowed. This module knows no section by name.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# When set, every params value a stage reads is appended to this file as "<script>\t<key>":
# tests/test_params_declared.py compares that with what each stage declares in dvc.yaml.
READ_LOG_ENV = "PRUNELAB_PARAMS_READ_LOG"


class ParamsError(ValueError):
    """A params file that does not match the schema; the message names the key and the fix."""


class SectionNotLoaded(ParamsError, AttributeError):
    """A stage read a section it did not pass to :func:`load_params` (an AttributeError too, so
    ``hasattr`` and ``getattr`` with a default work as for any object)."""


@dataclass(frozen=True)
class Field:
    """One leaf of the schema: its checker, and a human description of what it allows."""

    check: Callable[[Any], bool]
    allowed: str


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def int_at_least(low: int) -> Field:
    return Field(lambda v: is_int(v) and v >= low, f"an integer >= {low}")


def number_in(low: float, high: float, *, low_open: bool, high_open: bool) -> Field:
    def check(value: Any) -> bool:
        if not _is_number(value):
            return False
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return above and below

    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    return Field(check, f"a number in {left}{low}, {high}{right}")


def one_of(choices: tuple[str, ...]) -> Field:
    return Field(lambda v: v in choices, "one of " + ", ".join(repr(c) for c in choices))


def unique_list(item: Field, what: str, *, may_be_empty: bool = False) -> Field:
    def check(value: Any) -> bool:
        return (
            isinstance(value, list)
            and (may_be_empty or len(value) > 0)
            and all(item.check(v) for v in value)
            and len(set(value)) == len(value)
        )

    size = "a list (may be empty)" if may_be_empty else "a non-empty list"
    return Field(check, f"{size} without duplicates of {what} ({item.allowed})")


BOOLEAN = Field(lambda v: isinstance(v, bool), "true or false")
PERCENTAGE = Field(lambda v: is_int(v) and 0 <= v < 100, "an integer in [0, 100)")
PERCENTAGES = unique_list(PERCENTAGE, "percentages")

def grid_fields(methods: tuple[str, ...]) -> dict[str, Field]:
    """The two keys of every section that makes or measures models per method and k."""
    return {"methods": unique_list(one_of(methods), "pruning methods"), "ks": PERCENTAGES}


# Whole-file rules of a section that refer to other sections: the raw file in, problems out.
CrossCheck = Callable[[dict[str, Any]], list[str]]


@dataclass(frozen=True)
class Section:
    """One section of ``params.yaml``: its keys' fields, the frozen dataclass its values become
    (built with the keys as keywords, lists made tuples), and its rules that refer to other
    sections (checked with the whole file only)."""

    name: str
    fields: dict[str, Field]
    values: type
    cross_checks: tuple[CrossCheck, ...] = ()


@dataclass(frozen=True)
class Grid:
    """The methods and percentages k a section makes or measures a model for: ``prune`` and
    ``sensitivity`` as they are, the other sections with their own settings added."""

    methods: tuple[str, ...]
    ks: tuple[int, ...]


class _RecordedSection:
    """A section's values that append each key read to the read log (see :data:`READ_LOG_ENV`)."""

    def __init__(self, name: str, values: Any, log: Path) -> None:
        self._name, self._values, self._log = name, values, log

    def __getattr__(self, key: str) -> Any:
        value = getattr(self._values, key)
        with self._log.open("a") as log:
            log.write(f"{Path(sys.argv[0]).as_posix()}\t{self._name}.{key}\n")
        return value


class Params:
    """The sections a stage loaded, one attribute each (``params.train.seeds``). Reading a
    section that was not loaded raises :class:`ParamsError` naming the fix."""

    def __init__(self, sections: dict[str, Any], source: str) -> None:
        self._sections = sections
        self._source = source

    def replace(self, **sections: Any) -> Params:
        """A copy with the given sections replaced (or added): for tests and tools."""
        return Params({**self._sections, **sections}, self._source)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._sections[name]
        except KeyError:
            raise SectionNotLoaded(
                f"section '{name}' of {self._source} was not loaded: pass "
                f"prunelab.schema.{name}.{name.upper()} to load_params"
            ) from None


def _yaml_number_hint(value: Any) -> str:
    """YAML 1.1 reads ``1e-3`` as a string; say how to write it as a number."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return " (YAML reads this as text: write a dot in the mantissa, e.g. 1.0e-3)"
    return ""


def section_problems(raw: dict[str, Any], section: Section) -> list[str]:
    """What is wrong with one section of the raw file (the file as YAML reads it), field by
    field: missing, unknown or out-of-range keys."""
    values = raw.get(section.name)
    if not isinstance(values, dict):
        return [f"missing section '{section.name}' (keys: {', '.join(section.fields)})"]
    problems = [
        f"unknown key '{section.name}.{key}' (allowed keys: {', '.join(section.fields)})"
        for key in sorted(set(values) - set(section.fields))
    ]
    for key, field in section.fields.items():
        if key not in values:
            problems.append(f"missing key '{section.name}.{key}': set it to {field.allowed}")
        elif not field.check(values[key]):
            problems.append(
                f"'{section.name}.{key}' is {values[key]!r}: it must be {field.allowed}"
                + _yaml_number_hint(values[key])
            )
    return problems


def _raise(problems: list[str], source: str) -> None:
    if problems:
        raise ParamsError(f"{source} is invalid:\n  - " + "\n  - ".join(problems))


def build_params(raw: Any, sections: tuple[Section, ...], source: str = "params.yaml") -> Params:
    """Validate ``sections`` of ``raw`` (the file as YAML reads it) field by field, then freeze
    them into a :class:`Params`. Other sections are neither checked nor kept."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections")
    _raise([p for section in sections for p in section_problems(raw, section)], source)
    log = os.environ.get(READ_LOG_ENV)
    loaded: dict[str, Any] = {}
    for section in sections:
        frozen = section.values(**{key: tuple(value) if isinstance(value, list) else value
                                   for key, value in raw[section.name].items()})
        loaded[section.name] = _RecordedSection(section.name, frozen, Path(log)) if log else frozen
    return Params(loaded, source)


def validate_whole(raw: Any, sections: tuple[Section, ...], source: str = "params.yaml") -> None:
    """Check the whole file: no section or key outside ``sections``, every field, then every
    section's cross-section rules (only once the fields are right, so each rule may trust
    them). Raises :class:`ParamsError` listing every problem at once."""
    names = [section.name for section in sections]
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections {names}")
    problems = [f"unknown section '{name}' (allowed: {', '.join(names)})"
                for name in sorted(set(raw) - set(names))]
    problems += [p for section in sections for p in section_problems(raw, section)]
    if not problems:
        problems = [p for section in sections for check in section.cross_checks
                    for p in check(raw)]
    _raise(problems, source)


def read_yaml(path: str | Path) -> Any:
    """The params file at ``path`` as YAML reads it."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such params file (run from the project root)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from None


def load_params(path: str | Path, *sections: Section) -> Params:
    """Read the params file at ``path`` and validate the given sections (each from its module
    ``prunelab.schema.<section>``); the result holds those sections only."""
    return build_params(read_yaml(path), sections, str(path))


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


def parse_seed(flag: str, text: str, params_path: str | Path) -> int:
    """A command-line seed, which must be one of ``train.seeds`` in the params file.

    The list is read as the file has it, not through the ``train`` section: this checks a hand
    run's command line, while DVC passes only listed seeds, so the list is no dependency of a
    per-seed stage (declaring it would rerun every instance when a seed is added), and the read
    is not logged. The ``validate_params`` stage checks the list itself.
    """
    raw = read_yaml(params_path)
    seeds = raw.get("train", {}).get("seeds") if isinstance(raw, dict) else None
    if not isinstance(seeds, list):
        raise ParamsError(f"{params_path}: 'train.seeds' is {seeds!r}: it must be a list of "
                          "seeds (python -m prunelab.schema.every_section says more)")
    if re.fullmatch(r"[0-9]+", text) is None or int(text) not in seeds:
        # Listed as params.yaml writes them: [0, 1, 2].
        raise ParamsError(f"{flag} is {text!r}: it must be one of train.seeds {seeds}")
    return int(text)
