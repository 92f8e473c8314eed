"""Momentum at a glance: weekly counts per topic over the past year (pure, exact numbers), the accessible SVG
chart, and the same numbers from /momentum.json and on / (SQLite and PostgreSQL)."""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from aggregator.web.momentum import ALL, WEEKS, render_chart, week_start, weekly_counts
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import Clock, poller, rss, rss_item

NOW = datetime(2026, 11, 18, 15, tzinfo=UTC)  # a Wednesday


def test_weeks_start_on_monday_and_cover_a_year() -> None:
    assert week_start(NOW) == date(2026, 11, 16)
    momentum = weekly_counts([], NOW, ["car-t-ms"])
    assert len(momentum.weeks) == WEEKS and momentum.weeks[-1] == date(2026, 11, 16)
    assert momentum.weeks[0] == date(2026, 11, 16) - timedelta(weeks=WEEKS - 1)
    assert momentum.series["car-t-ms"] == (0,) * WEEKS


def test_counts_per_topic_and_distinct_items_for_all_topics() -> None:
    rows = [
        (1, "car-t-ms", NOW),  # this week
        (1, "ms-research", NOW),  # same item, second topic: once in "all"
        (2, "car-t-ms", NOW - timedelta(days=3)),  # Sunday 15 Nov: last week
        (3, "car-t-ms", NOW - timedelta(weeks=51)),  # the oldest week shown
        (4, "car-t-ms", NOW - timedelta(weeks=53)),  # too old
        (5, "car-t-ms", NOW + timedelta(weeks=2)),  # a future date is not counted
        (6, "unknown-topic", NOW),  # a topic no longer configured: only in "all"
    ]
    momentum = weekly_counts(rows, NOW, ["car-t-ms", "ms-research"])
    assert momentum.series["car-t-ms"][-1] == 1 and momentum.series["car-t-ms"][-2] == 1
    assert momentum.series["car-t-ms"][0] == 1 and momentum.total("car-t-ms") == 3
    assert momentum.series["ms-research"][-1] == 1
    assert momentum.series[ALL][-1] == 2 and momentum.total(ALL) == 4
    assert "unknown-topic" not in momentum.series
    data = momentum.as_json({"car-t-ms": "CAR T in MS"})
    assert data["topics"]["car-t-ms"] == {"name": "CAR T in MS", "counts": list(momentum.series["car-t-ms"]),
                                          "total": 3}


def test_chart_is_accessible_svg_with_one_bar_per_non_empty_week() -> None:
    momentum = weekly_counts([(1, "t", NOW), (2, "t", NOW), (3, "t", NOW - timedelta(weeks=4))], NOW, ["t"])
    chart = render_chart(momentum, "t", "CAR T <in> MS")
    svg = chart.svg
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert 'aria-labelledby="momentum-title momentum-desc"' in svg
    assert '<title id="momentum-title">CAR T &lt;in&gt; MS: matching items per week, past 52 weeks</title>' in svg
    assert "3 items in 52 weeks" in chart.description and "with 2 items" in chart.description
    assert svg.count('class="bar"') == 2
    heights = [float(h) for h in re.findall(r'class="bar"[^>]*height="([\d.]+)"', svg)]
    assert heights[1] == 2 * heights[0]  # bars are proportional
    assert chart.rows[-1] == (date(2026, 11, 16), 2) and len(chart.rows) == 52
    assert "style=" not in svg and "<script" not in svg  # the CSP forbids both


def test_empty_chart_says_so() -> None:
    chart = render_chart(weekly_counts([], NOW, ["t"]), "t", "CAR T")
    assert chart.description == "No matching items in the past 52 weeks." and 'class="bar"' not in chart.svg


# The page reads the clock itself: the end-to-end test runs at chosen moments (time-machine), among them a Monday
# just after midnight (the items of the last two hours straddle two weeks) and the turn of 2026, which has 53 weeks.
PAGE_NOWS = [
    datetime(2026, 11, 18, 15, tzinfo=UTC),
    datetime(2026, 11, 16, 0, 30, tzinfo=UTC),
    datetime(2027, 1, 1, 1, 0, tzinfo=UTC),
    datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
]


@pytest.mark.parametrize("now", PAGE_NOWS, ids=[n.strftime("%Y-%m-%dT%H:%M") for n in PAGE_NOWS])
def test_endpoint_and_page_show_the_same_numbers(tmp_path: Path, feed_server: FeedServer, any_db_url: str,
                                                 now: datetime) -> None:
    with time_machine.travel(now, tick=True):
        _endpoint_and_page_show_the_same_numbers(tmp_path, feed_server, any_db_url, datetime.now(UTC))


def _endpoint_and_page_show_the_same_numbers(tmp_path: Path, feed_server: FeedServer, any_db_url: str,
                                             now: datetime) -> None:

    def stamp(moment: datetime) -> str:
        return email.utils.format_datetime(moment)

    feed_server.add("/news.xml", rss(
        rss_item("KYV-101 CAR T-cell therapy in multiple sclerosis: first patient", "https://n.example/1",
                 "CAR T in MS.", guid="1", date=stamp(now - timedelta(hours=1))),
        rss_item("Second CD19 CAR T trial opens for multiple sclerosis", "https://n.example/2",
                 "CAR T in MS.", guid="2", date=stamp(now - timedelta(hours=2))),
        rss_item("BCMA CAR T cells in relapsing multiple sclerosis", "https://n.example/3",
                 "CAR T in MS.", guid="3", date=stamp(now - timedelta(weeks=10))),
        rss_item("CAR T cells in multiple sclerosis, years ago", "https://n.example/4",
                 "CAR T in MS.", guid="4", date=stamp(now - timedelta(weeks=60))),
    ))
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "news", "name": "News", "url": feed_server.url("/news.xml")}]))
    poller(app, Clock(now)).poll_many(["news"])
    client = app.test_client()
    response = client.get("/momentum.json")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "public, max-age=300"
    data = response.get_json()
    counts = data["topics"]["car-t-ms"]["counts"]
    assert len(data["weeks"]) == 52 and data["weeks"][-1] == week_start(now).isoformat()
    # Expected from the dates themselves (robust on a Monday just after midnight); the 60-week-old item is out.
    dates = [now - timedelta(hours=1), now - timedelta(hours=2), now - timedelta(weeks=10)]
    expected: dict[str, int] = {}
    for moment in dates:
        expected[week_start(moment).isoformat()] = expected.get(week_start(moment).isoformat(), 0) + 1
    assert {week: n for week, n in zip(data["weeks"], counts, strict=True) if n} == expected
    assert data["all"]["total"] == 3
    page = client.get("/?topic=car-t-ms").get_data(as_text=True)
    assert 'role="img"' in page and "3 items in 52 weeks" in page
    week = week_start(dates[2]).isoformat()
    assert f"<td>{week}</td><td>{expected[week]}</td>" in page


def test_counting_by_day_in_the_database_gives_the_weekly_counts_of_the_rows(
    tmp_path: Path, feed_server: FeedServer, any_db_url: str
) -> None:
    # Week boundaries in UTC (a Monday at midnight, a Sunday's last second, a +02:00 date that is Sunday in UTC),
    # items in several topics, a duplicate story (left out) and an item older than the window.
    from aggregator import store
    from aggregator.db import get_database
    from aggregator.web.momentum import weekly_counts_from_days

    car_t_ms, ms_only = "KYV-101 CAR T-cell therapy in multiple sclerosis", "Ocrelizumab in multiple sclerosis"
    feed_server.add("/a.xml", rss(
        rss_item(f"{car_t_ms}: Monday", "https://a.example/1", "CAR T in MS.", guid="1",
                 date="Mon, 16 Nov 2026 00:00:00 +0000"),
        rss_item(f"{car_t_ms}: Sunday", "https://a.example/2", "CAR T in MS.", guid="2",
                 date="Sun, 15 Nov 2026 23:59:59 +0000"),
        rss_item(f"{ms_only}: Sunday in UTC", "https://a.example/3", "Relapsing MS.", guid="3",
                 date="Mon, 16 Nov 2026 01:30:00 +0200"),
        rss_item(f"{car_t_ms}: weeks ago", "https://a.example/4", "CAR T in MS.", guid="4",
                 date="Wed, 07 Oct 2026 12:00:00 +0000"),
        rss_item(f"{car_t_ms}: long ago", "https://a.example/5", "CAR T in MS.", guid="5",
                 date="Wed, 10 Sep 2025 12:00:00 +0000"),
    ))
    feed_server.add("/b.xml", rss(
        rss_item(f"{car_t_ms}: weeks ago", "https://b.example/4", "CAR T in MS.", guid="b4",
                 date="Wed, 07 Oct 2026 13:00:00 +0000"),
    ))
    app = make_app(any_db_url, write_feeds_file(tmp_path / "f.yaml", [
        {"id": "a", "name": "A", "url": feed_server.url("/a.xml")},
        {"id": "b", "name": "B", "url": feed_server.url("/b.xml")}]))
    poller(app, Clock(NOW)).poll_many(["a", "b"])
    topics = ["car-t-ms", "car-t-autoimmune", "ms-research"]
    since = datetime.combine(NOW.date() - timedelta(weeks=WEEKS), datetime.min.time(), tzinfo=UTC)
    with get_database(app).session_scope() as session:
        by_rows = weekly_counts(store.momentum_rows(session, since), NOW, topics)
        by_days = weekly_counts_from_days(store.momentum_day_counts(session, since), NOW, topics)
    assert by_days == by_rows
    weeks = {week.isoformat(): i for i, week in enumerate(by_days.weeks)}
    assert by_days.series["car-t-ms"][weeks["2026-11-16"]] == 1 and by_days.series[ALL][weeks["2026-11-16"]] == 1
    assert by_days.series["car-t-ms"][weeks["2026-11-09"]] == 1 and by_days.series[ALL][weeks["2026-11-09"]] == 2
    assert by_days.series["ms-research"][weeks["2026-11-09"]] == 2
    assert by_days.series[ALL][weeks["2026-10-05"]] == 1  # the duplicate from b is left out
    assert by_days.total(ALL) == 4  # the item of 2025 is older than the window
