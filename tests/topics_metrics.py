"""Precision, recall and their bootstrap 95% intervals for the topic filter's labelled sets (issue #13).

Pure functions over ``(expected, got)`` pairs, one pair per labelled item and topic, so that the figures printed by
``tests/test_topics_eval.py`` can be checked by hand (``tests/test_topics_metrics.py`` does, on a small example).

The interval is the percentile bootstrap: resample the items with replacement ``resamples`` times with a seeded
``random.Random`` (the same seed gives the same interval on every machine), compute the metric on each resample, and
take the 2.5th and 97.5th percentiles (linear interpolation between order statistics, as ``numpy.percentile``'s
default does). A resample where the metric is undefined (no predicted positives for precision, no actual positives
for recall) is left out; ``Estimate.undefined`` counts them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Pair = tuple[bool, bool]  # (expected, got)

# Lines the session summary prints (tests/conftest.py's pytest_terminal_summary), filled by test_topics_eval.
REPORT: list[str] = []


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int
    tn: int


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None
    undefined: int  # resamples where the metric had no denominator

    def __str__(self) -> str:
        if self.value is None:
            return "n/a"
        if self.low is None or self.high is None:
            return f"{self.value:.3f}"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def counts(pairs: Sequence[Pair]) -> Counts:
    tp = sum(1 for e, g in pairs if e and g)
    fp = sum(1 for e, g in pairs if not e and g)
    fn = sum(1 for e, g in pairs if e and not g)
    return Counts(tp, fp, fn, len(pairs) - tp - fp - fn)


def precision(c: Counts) -> float | None:
    return c.tp / (c.tp + c.fp) if c.tp + c.fp else None


def recall(c: Counts) -> float | None:
    return c.tp / (c.tp + c.fn) if c.tp + c.fn else None


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, interpolating linearly between order statistics."""
    if not sorted_values:
        raise ValueError("no values")
    position = (len(sorted_values) - 1) * q / 100
    below = int(position)
    above = min(below + 1, len(sorted_values) - 1)
    return sorted_values[below] + (sorted_values[above] - sorted_values[below]) * (position - below)


def bootstrap(
    pairs: Sequence[Pair],
    metric: Callable[[Counts], float | None],
    *,
    resamples: int = 1000,
    seed: int = 13,
    level: float = 0.95,
) -> Estimate:
    """The metric on ``pairs`` and its percentile-bootstrap interval at ``level``."""
    value = metric(counts(pairs))
    rng = random.Random(seed)
    n = len(pairs)
    values: list[float] = []
    undefined = 0
    for _ in range(resamples):
        sample = [pairs[rng.randrange(n)] for _ in range(n)] if n else []
        v = metric(counts(sample))
        if v is None:
            undefined += 1
        else:
            values.append(v)
    if not values:
        return Estimate(value, None, None, undefined)
    values.sort()
    tail = (1 - level) / 2 * 100
    return Estimate(value, percentile(values, tail), percentile(values, 100 - tail), undefined)
