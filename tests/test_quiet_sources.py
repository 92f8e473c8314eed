"""Sources that go quiet or moved: the pure rule (table-tested against each source's own rhythm) and the flags
on /sources (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select, update

from aggregator.db import get_database
from aggregator.models import Item, Source
from aggregator.web.quiet import MIN_QUIET, QuietFlag, quiet_flag, source_flags, usual_gap
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import Clock, poller, rss, rss_item

NOW = datetime(2026, 11, 18, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def daily(n: int, last: datetime) -> list[datetime]:
    return [last - i * DAY for i in range(n)]


@pytest.mark.parametrize(("last_ago", "history", "watched_ago", "quiet", "why"), [
    (3 * DAY, daily(20, NOW - 3 * DAY), 60 * DAY, False, "daily source, 3 days: within its floor"),
    (20 * DAY, daily(20, NOW - 20 * DAY), 60 * DAY, True, "daily source silent for 20 days"),
    (20 * DAY, [NOW - 20 * DAY - i * 14 * DAY for i in range(10)], 200 * DAY, False,
     "fortnightly source, 20 days: normal for it"),
    (70 * DAY, [NOW - 70 * DAY - i * 14 * DAY for i in range(10)], 200 * DAY, True,
     "fortnightly source silent for 10 weeks (4 × its rhythm)"),
    (30 * DAY, [NOW - 30 * DAY], 40 * DAY, False, "too little history: judged against 45 days"),
    (50 * DAY, [NOW - 50 * DAY], 60 * DAY, True, "too little history, 50 days"),
])
def test_quiet_rule(last_ago: timedelta, history: list[datetime], watched_ago: timedelta, quiet: bool,
                    why: str) -> None:
    flag = quiet_flag("items", NOW - last_ago, history, NOW - watched_ago, NOW)
    assert (flag is not None) == quiet, why


def test_usual_gap_is_the_median_and_needs_history() -> None:
    assert usual_gap(daily(3, NOW)) is None
    times = [NOW, NOW - DAY, NOW - 2 * DAY, NOW - 30 * DAY]  # one long holiday does not skew it
    assert usual_gap(times) == DAY


def test_flags_only_for_healthy_enabled_sources_and_one_quiet_flag_at_most() -> None:
    old = NOW - 100 * DAY
    kwargs = dict(moved_to=None, last_new_item_at=old, last_match_at=old, item_times=daily(10, old),
                  match_times=daily(10, old), first_seen_at=old - 30 * DAY, now=NOW)
    flags = source_flags(status="ok", enabled=True, **kwargs)  # type: ignore[arg-type]
    assert [f.what for f in flags.quiet] == ["items"]
    assert "No new item since 10 Aug 2026; usually one every day." == flags.quiet[0].message
    assert source_flags(status="error", enabled=True, **kwargs).quiet == []  # type: ignore[arg-type]
    assert source_flags(status="ok", enabled=False, **kwargs).quiet == []  # type: ignore[arg-type]
    # New items, but none matching for months: quiet for matches.
    busy = dict(kwargs, last_new_item_at=NOW - DAY, item_times=daily(30, NOW - DAY))
    flags = source_flags(status="ok", enabled=True, **busy)  # type: ignore[arg-type]
    assert [f.what for f in flags.quiet] == ["matches"]
    assert QuietFlag("items", None, None).message.startswith("No new item yet")
    assert MIN_QUIET == timedelta(days=14)


def test_sources_page_flags_quiet_and_moved_sources(tmp_path: Path, feed_server: FeedServer, any_db_url: str,
                                                   request: pytest.FixtureRequest) -> None:
    feed_server.add("/quiet.xml", rss(rss_item("CAR T in multiple sclerosis", "https://q.example/1", "x", guid="1")))
    feed_server.add("/busy.xml", rss(rss_item("CAR T in multiple sclerosis again", "https://b.example/1", "x",
                                              guid="1")))
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "quiet", "name": "Quiet journal", "url": feed_server.url("/quiet.xml")},
        {"id": "busy", "name": "Busy news", "url": feed_server.url("/busy.xml")},
    ]))
    traveller = time_machine.travel(NOW, tick=True)  # the page judges quietness by its own clock
    traveller.start()
    request.addfinalizer(traveller.stop)
    now = datetime.now(UTC)
    poller(app, Clock(now)).poll_many(["quiet", "busy"])
    long_ago = now - timedelta(days=90)
    with get_database(app).session_scope() as session:
        session.execute(update(Item).where(Item.source_id == "quiet").values(first_seen_at=long_ago))
        session.execute(update(Source).where(Source.id == "quiet").values(last_new_item_at=long_ago,
                                                                           last_match_at=long_ago))
        session.execute(update(Source).where(Source.id == "busy").values(moved_to="https://busy.example/feed"))
        assert session.scalar(select(Source.status).where(Source.id == "quiet")) == "ok"
    page = app.test_client().get("/sources").get_data(as_text=True)
    quiet_row = page[page.index('id="source-quiet"'):page.index("</tr>", page.index('id="source-quiet"'))]
    busy_row = page[page.index('id="source-busy"'):page.index("</tr>", page.index('id="source-busy"'))]
    assert "Quiet:" in quiet_row and f"No new item since {long_ago:%d %b %Y}" in quiet_row
    assert "Quiet:" not in busy_row
    assert "Moved:" in busy_row and "redirects permanently to https://busy.example/feed" in busy_row
