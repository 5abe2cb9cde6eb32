"""Interleaved latency measurement: rounds of one call per runner, shuffled per round.

Interleaving makes drift (clock, other processes) hit every runner of a round alike; shuffling
spreads the after-effects of one call on the next (BLAS threads still spinning) evenly. A call
shorter than :data:`REWARM_BELOW_S` is preceded by a few untimed calls of the same runner, so
that every runner is timed "hot" (its weights in cache and its branches predicted, as when it
serves alone) while rounds still interleave; such a runner then gets timed calls in a row per
round, not one -- as many as fill :data:`HOT_TIME_S`, at most :data:`HOT_MAX_CALLS`
(:func:`hot_timed_calls`): a median of microsecond calls needs many of them to be steady, and
they cost little next to the re-warming, while a 1 ms call timed eight times a round would take
a slot that gives every other runner of the cell fewer rounds.

Repeats adapt to slow cases: a :class:`Timer` gets ``min(repeats, max(min_repeats, budget //
round time))`` timed rounds (``min_repeats`` :data:`MIN_REPEATS` unless given), the round time
being estimated from the warm-up, and a runner whose first call takes longer than
:data:`SLOW_CALL_S` gets no further warm-up calls. Timings of the same runners taken at
different times join into one (:meth:`Timings.joined`) when their calls per round agree.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

MIN_REPEATS = 5
SLOW_CALL_S = 0.05
#: Calls faster than this get untimed calls of the same route just before the timed one
#: (enough to fill REWARM_TIME_S, at most REWARM_MAX_CALLS), so they are timed in the state of a
#: route serving alone -- weights in cache, branch predictors trained on its code -- not right
#: after other routes evicted that (up to 3x slower at batch 1 here, TensorFlow calls worst).
REWARM_BELOW_S = 0.02
REWARM_TIME_S = 0.002
REWARM_MAX_CALLS = 100
#: Timed calls in a row, per round, of a runner that is re-warmed: as many as fill HOT_TIME_S,
#: between one and HOT_MAX_CALLS (one for the runners that are not re-warmed).
HOT_TIME_S = 0.0005
HOT_MAX_CALLS = 64


class Timings:
    """Timed seconds per runner name, in round order, and the figures reported for them;
    ``per_round[name]`` calls of a runner were timed in a row in each round (1 if not given)."""

    def __init__(self, samples: dict[str, list[float]],
                 per_round: dict[str, int] | None = None) -> None:
        self.samples = samples
        self.per_round = per_round or {}

    def joined(self, later: Timings) -> Timings:
        """These rounds followed by ``later``'s, of the same runners and calls per round."""
        if later.per_round != self.per_round or set(later.samples) != set(self.samples):
            raise ValueError("joined timings need the same runners and calls per round")
        return Timings({name: values + later.samples[name]
                        for name, values in self.samples.items()}, self.per_round)

    def median(self, name: str) -> float:
        """Median seconds per call."""
        return float(np.median(self.samples[name]))

    def figures(self, name: str) -> dict[str, Any]:
        """Median and 10th/90th percentile in milliseconds, and the number of timed calls."""
        values = np.asarray(self.samples[name]) * 1e3
        return {
            "latency_ms": float(np.median(values)),
            "latency_p10_ms": float(np.percentile(values, 10)),
            "latency_p90_ms": float(np.percentile(values, 90)),
            "timed_calls": int(values.size),
        }


class Timer:
    """Rounds of timed calls of every runner, shuffled per round; medians of the timed calls.

    Calls cycle through ``inputs`` (several distinct batches of one size), so that routes whose
    branches depend on the data (zero-skipping) cannot learn one input by heart.
    """

    def __init__(self, runners: dict[str, Callable[[np.ndarray], Any]], inputs: list[np.ndarray],
                 shuffle: random.Random) -> None:
        self.runners = runners
        self.inputs = inputs
        self.shuffle = shuffle
        self._next = dict.fromkeys(runners, 0)

    def run(self, warmup: int, repeats: int, budget_s: float,
            per_round: dict[str, int] | None = None, min_repeats: int = MIN_REPEATS) -> Timings:
        """Warm up, size the number of rounds from the warm-up times, then time the rounds;
        ``per_round`` fixes each runner's timed calls per round (else :func:`hot_timed_calls`)."""
        first = {name: self._call(name) for name in self.runners}
        latest = dict(first)
        extra = {name: 0 if first[name] > SLOW_CALL_S else max(0, warmup - 1) for name in first}
        for round_index in range(max(extra.values(), default=0)):
            for name in self._order():
                if round_index < extra[name]:
                    latest[name] = self._call(name)
        call_s = {name: min(first[name], latest[name]) for name in first}
        rewarm = {name: rewarm_calls(call_s[name]) for name in first}
        timed = per_round or {name: hot_timed_calls(call_s[name]) if rewarm[name] else 1
                              for name in first}
        round_s = sum(call_s[name] * (timed[name] + rewarm[name]) for name in first)
        rounds = min(repeats, max(min_repeats, int(budget_s / max(round_s, 1e-9))))
        samples: dict[str, list[float]] = {name: [] for name in self.runners}
        gc.disable()
        try:
            for _ in range(rounds):
                for name in self._order():
                    for _ in range(rewarm[name]):
                        self._call(name)
                    samples[name].extend(self._call(name) for _ in range(timed[name]))
        finally:
            gc.enable()
        return Timings(samples, timed)

    def _order(self) -> list[str]:
        names = list(self.runners)
        self.shuffle.shuffle(names)
        return names

    def _call(self, name: str) -> float:
        batch = self.inputs[self._next[name] % len(self.inputs)]
        self._next[name] += 1
        start = time.perf_counter()
        self.runners[name](batch)
        return time.perf_counter() - start


def rewarm_calls(call_s: float) -> int:
    """Untimed calls before each timed one of a runner whose calls take ``call_s`` seconds."""
    if call_s >= REWARM_BELOW_S:
        return 0
    return min(REWARM_MAX_CALLS, max(1, int(REWARM_TIME_S / max(call_s, 1e-9))))


def hot_timed_calls(call_s: float) -> int:
    """Timed calls in a row, per round, of a re-warmed runner whose calls take ``call_s``."""
    return min(HOT_MAX_CALLS, max(1, int(HOT_TIME_S / max(call_s, 1e-9))))
