"""Sources that go quiet, and sources that moved: the rules behind the flags on /sources. Pure.

A source is *quiet* when its last new item is much older than its own rhythm: the median gap between its recent
new items, times ``FACTOR``, and never less than ``MIN_QUIET`` (a weekly newsletter is not quiet after 8 days).
A source with too little history to have a rhythm is judged against ``NO_HISTORY_QUIET``. The same rule runs on
items that matched a topic, with a longer floor, because matches are rarer than items ("no match for 4 months").
Only sources that are read successfully are judged: a failing source is already flagged as failing.
A *moved* source answered with a permanent redirect (301/308): feeds.yaml should get the new address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

FACTOR = 4
MIN_QUIET = timedelta(days=14)
MIN_QUIET_MATCH = timedelta(days=60)
NO_HISTORY_QUIET = timedelta(days=45)
MIN_HISTORY = 4  # items needed to estimate a rhythm


@dataclass(frozen=True)
class QuietFlag:
    what: str  # "items" or "matches"
    since: datetime | None  # the last one; None: never
    usual_gap: timedelta | None  # None: not enough history

    @property
    def message(self) -> str:
        noun = "new item" if self.what == "items" else "item matching a topic"
        if self.since is None:
            return f"No {noun} yet since we started reading it."
        usual = f"; usually one every {_days(self.usual_gap)}" if self.usual_gap else ""
        return f"No {noun} since {self.since:%d %b %Y}{usual}."


def _days(gap: timedelta | None) -> str:
    if gap is None:
        return "?"
    days = gap.total_seconds() / 86400
    return "day" if days < 1.5 else f"{days:.0f} days"


def usual_gap(times: Sequence[datetime]) -> timedelta | None:
    """Median gap between consecutive times (any order), or None with fewer than MIN_HISTORY times."""
    ordered = sorted(times)
    if len(ordered) < MIN_HISTORY:
        return None
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[1:], strict=False)]
    return timedelta(seconds=median(g.total_seconds() for g in gaps))


def quiet_flag(what: str, last: datetime | None, history: Sequence[datetime], watched_since: datetime | None,
               now: datetime) -> QuietFlag | None:
    """Whether a source is quiet for ``what`` ("items" or "matches").

    ``last``: the newest one; ``history``: recent first-seen times; ``watched_since``: when we first read the
    source successfully (no flag before we have watched it long enough).
    """
    floor = MIN_QUIET if what == "items" else MIN_QUIET_MATCH
    gap = usual_gap(history)
    allowed = max(gap * FACTOR, floor) if gap else max(NO_HISTORY_QUIET, floor)
    reference = last or watched_since
    if reference is None or now - reference <= allowed:
        return None
    return QuietFlag(what=what, since=last, usual_gap=gap)


@dataclass(frozen=True)
class SourceFlags:
    quiet: list[QuietFlag]
    moved_to: str | None


def source_flags(*, status: str, enabled: bool, moved_to: str | None, last_new_item_at: datetime | None,
                 last_match_at: datetime | None, item_times: Sequence[datetime], match_times: Sequence[datetime],
                 first_seen_at: datetime | None, now: datetime) -> SourceFlags:
    quiet: list[QuietFlag] = []
    if enabled and status in {"ok", "not-modified"}:
        for what, last, history in (("items", last_new_item_at, item_times),
                                    ("matches", last_match_at, match_times)):
            flag = quiet_flag(what, last or (max(history) if history else None), history, first_seen_at, now)
            if flag:
                quiet.append(flag)
                break  # no new item at all implies no new match: one flag says it
    return SourceFlags(quiet=quiet, moved_to=moved_to)
