"""The metric helpers of tests/topics_metrics.py on examples worked out by hand."""

from __future__ import annotations

import pytest

from tests.topics_metrics import Counts, bootstrap, counts, percentile, precision, recall

# 10 items: 3 true positives, 1 false positive, 2 false negatives, 4 true negatives.
PAIRS = [(True, True)] * 3 + [(False, True)] + [(True, False)] * 2 + [(False, False)] * 4


def test_counts_precision_recall_by_hand() -> None:
    c = counts(PAIRS)
    assert c == Counts(tp=3, fp=1, fn=2, tn=4)
    assert precision(c) == 3 / 4  # 3 of the 4 items it claimed
    assert recall(c) == 3 / 5  # 3 of the 5 labelled positives


def test_undefined_metrics() -> None:
    assert precision(Counts(0, 0, 2, 5)) is None  # it claimed nothing
    assert recall(Counts(0, 3, 0, 5)) is None  # nothing to find


def test_percentile_interpolates_between_order_statistics() -> None:
    values = [0.0, 10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 0.0
    assert percentile(values, 50) == 20.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 2.5) == pytest.approx(1.0)  # position 0.1 between 0 and 10
    assert percentile(values, 97.5) == pytest.approx(39.0)  # position 3.9 between 30 and 40
    with pytest.raises(ValueError):
        percentile([], 50)


def test_bootstrap_of_a_perfect_classifier_is_a_point() -> None:
    est = bootstrap([(True, True)] * 5 + [(False, False)] * 5, precision)
    assert (est.value, est.low, est.high) == (1.0, 1.0, 1.0)
    # a resample of 10 items with no positive at all has probability 0.5**10 per draw: a few in 1000 may occur
    assert est.undefined < 10


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible() -> None:
    a = bootstrap(PAIRS, recall, resamples=1000, seed=13)
    b = bootstrap(PAIRS, recall, resamples=1000, seed=13)
    assert a == b
    assert a.value == 0.6
    assert a.low is not None and a.high is not None
    assert 0.0 <= a.low < 0.6 < a.high <= 1.0
    # with 5 positives the interval is wide: a resample can hold 0..all of the misses
    assert a.high - a.low > 0.4
    assert bootstrap(PAIRS, recall, seed=14) != a


def test_str_of_an_estimate() -> None:
    est = bootstrap([(True, True)] * 4, recall, resamples=10)
    assert str(est) == "1.000 [1.000, 1.000]"
