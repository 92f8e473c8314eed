from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from aggregator.poll import policy

NOW = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)


def test_success_schedules_one_interval_later_with_bounded_jitter() -> None:
    rng = random.Random(1)
    delays = [(policy.next_poll_after_success(NOW, 3600, None, rng) - NOW).total_seconds() for _ in range(200)]
    assert all(3240 <= d <= 3960 for d in delays)
    assert len({round(d) for d in delays}) > 50  # really spread out


def test_server_freshness_can_only_lengthen_the_interval() -> None:
    rng = random.Random(2)
    later = policy.next_poll_after_success(NOW, 3600, 4 * 3600, rng) - NOW
    assert later >= timedelta(hours=3.6)
    shorter = policy.next_poll_after_success(NOW, 3600, 60, rng) - NOW
    assert shorter >= timedelta(hours=0.9)


def test_backoff_doubles_up_to_the_ceiling() -> None:
    assert [policy.backoff_seconds(600, n, 24 * 3600) for n in range(1, 10)] == [
        600,
        1200,
        2400,
        4800,
        9600,
        19200,
        38400,
        76800,
        86400,
    ]
    assert policy.backoff_seconds(600, 1000, 3600) == 3600


def test_retry_after_wins_when_longer() -> None:
    rng = random.Random(3)
    at = policy.next_poll_after_failure(NOW, 600, 1, 86400, retry_after=7200, rng=rng)
    assert at - NOW == timedelta(seconds=7200)
