"""Pure decisions about when to poll again. No I/O; ``now`` and the random source are passed in.

- After a success the next poll is one interval later, or later still if the server granted a longer freshness
  (Cache-Control max-age / Expires), never sooner than the interval; ±10 % jitter spreads sources apart.
- After a failure the delay doubles with each consecutive error (interval × 2^(errors-1)), up to a ceiling, so a
  broken source is asked less and less often but never given up on: it recovers on its own when it works again.
  A Retry-After from the server is honoured when it asks for more.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

JITTER = 0.1


def _jittered(seconds: float, rng: random.Random) -> float:
    return seconds * (1 + rng.uniform(-JITTER, JITTER))


def next_poll_after_success(
    now: datetime, interval: int, max_age: float | None = None, rng: random.Random | None = None
) -> datetime:
    rng = rng or random.Random()
    seconds = max(float(interval), max_age or 0.0)
    return now + timedelta(seconds=_jittered(seconds, rng))


def backoff_seconds(interval: int, error_count: int, ceiling: int) -> float:
    """Delay before retrying a source that has failed ``error_count`` times in a row (≥ 1)."""
    exponent = max(0, min(error_count - 1, 30))
    return float(min(interval * (2**exponent), max(ceiling, interval)))


def next_poll_after_failure(
    now: datetime,
    interval: int,
    error_count: int,
    ceiling: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> datetime:
    rng = rng or random.Random()
    seconds = _jittered(backoff_seconds(interval, error_count, ceiling), rng)
    if retry_after is not None:
        seconds = max(seconds, retry_after)
    return now + timedelta(seconds=seconds)
