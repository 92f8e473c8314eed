"""The whole pipeline, on real SQLite and PostgreSQL, from feed files served on 127.0.0.1 to stored items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from aggregator.cli.poll import build_poller
from aggregator.db import get_database
from aggregator.models import Item, ItemTopic, Source
from aggregator.poll.pipeline import Poller
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer

REAL = Path(__file__).resolve().parent / "data" / "real"
NOW = datetime(2026, 11, 16, 8, tzinfo=UTC)


def rss(*items: str, title: str = "Test feed") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://feed.example/</link><description>d</description>{''.join(items)}</channel></rss>"
    )


def item(
    title: str, link: str, summary: str = "", guid: str | None = None, date: str = "Mon, 16 Nov 2026 07:00:00 +0000"
) -> str:
    guid_xml = f'<guid isPermaLink="false">{guid}</guid>' if guid else ""
    return (
        f"<item><title>{title}</title><link>{link}</link>{guid_xml}<description>{summary}</description>"
        f"<pubDate>{date}</pubDate></item>"
    )


CAR_T_MS = item(
    "KYV-101 CAR T-cell therapy in progressive multiple sclerosis: first patients treated",
    "https://news.example/kyv-101-ms?utm_source=rss",
    "Kyverna's CD19 CAR T product was given to people with progressive MS in the KYSA-7 trial.",
    guid="news-1",
)
MS_ONLY = item(
    "Tolebrutinib slows disability in non-relapsing secondary progressive multiple sclerosis",
    "https://news.example/tolebrutinib",
    "The BTK inhibitor reduced disability progression in people with MS.",
    guid="news-2",
)
UNRELATED = item(
    "Mass spectrometry method for MS/MS metabolomics",
    "https://news.example/lcms",
    "An LC-MS/MS method for plasma.",
    guid="news-3",
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def poller(app: Flask, clock: Clock) -> Poller:
    base = build_poller(app)
    return Poller(base.database, base.catalog, base.classifier, base.settings, clock=clock)


@pytest.fixture
def two_sources(tmp_path: Path, feed_server: FeedServer, any_db_url: str) -> Flask:
    feed_server.add("/news.xml", rss(CAR_T_MS, MS_ONLY, UNRELATED))
    feed_server.add("/wp.xml", (REAL / "wordpress_rss2_feed_wp4.7.xml").read_bytes())
    feeds = write_feeds_file(
        tmp_path / "feeds.yaml",
        [
            {"id": "news", "name": "News", "url": feed_server.url("/news.xml")},
            {"id": "wp", "name": "WordPress", "url": feed_server.url("/wp.xml")},
            {"id": "off", "name": "Disabled", "url": feed_server.url("/off.xml"), "enabled": False},
        ],
    )
    return make_app(any_db_url, feeds)


def stored(app: Flask) -> list[Item]:
    with get_database(app).session_scope() as session:
        return list(session.scalars(select(Item).order_by(Item.id)))


def topics_of(app: Flask) -> dict[str, set[str]]:
    with get_database(app).session_scope() as session:
        rows = session.execute(select(Item.title, ItemTopic.topic_id).join(ItemTopic)).all()
    result: dict[str, set[str]] = {}
    for title, topic in rows:
        result.setdefault(title, set()).add(topic)
    return result


def test_poll_stores_classifies_and_is_idempotent(two_sources: Flask, feed_server: FeedServer) -> None:
    clock = Clock(NOW)
    reports = {r.source_id: r for r in poller(two_sources, clock).poll_many(["news", "wp"])}
    assert (reports["news"].outcome, reports["news"].new) == ("ok", 3)
    assert (reports["wp"].outcome, reports["wp"].new) == ("ok", 10)
    topics = topics_of(two_sources)
    kyv = "KYV-101 CAR T-cell therapy in progressive multiple sclerosis: first patients treated"
    assert {"car-t-ms", "car-t-autoimmune", "ms-research"} <= topics[kyv]
    assert "car-t-ms" not in topics.get(
        "Tolebrutinib slows disability in non-relapsing secondary progressive multiple sclerosis", set()
    )
    assert (
        "ms-research"
        in topics["Tolebrutinib slows disability in non-relapsing secondary progressive multiple sclerosis"]
    )
    assert "Mass spectrometry method for MS/MS metabolomics" not in topics

    # Polling again: every request is conditional, answered 304, nothing stored twice.
    clock.now += timedelta(hours=2)
    again = poller(two_sources, clock).poll_many(["news", "wp"])
    assert [r.outcome for r in again] == ["not-modified", "not-modified"]
    assert len(stored(two_sources)) == 13
    assert all("if-none-match" in r.headers for r in feed_server.requests_to("/news.xml")[1:])


def test_changed_item_is_updated_in_place_and_keeps_first_seen(two_sources: Flask, feed_server: FeedServer) -> None:
    clock = Clock(NOW)
    poller(two_sources, clock).poll_many(["news"])
    first = {i.key: i for i in stored(two_sources)}
    changed = CAR_T_MS.replace("first patients treated", "first patients treated, says company")
    feed_server.add("/news.xml", rss(changed, MS_ONLY, UNRELATED))
    clock.now += timedelta(hours=3)
    report = poller(two_sources, clock).poll_many(["news"])[0]
    assert (report.new, report.updated, report.unchanged) == (0, 1, 2)
    after = {i.key: i for i in stored(two_sources)}
    row = after["guid:news-1"]
    assert row.title.endswith("says company")
    assert row.first_seen_at == first["guid:news-1"].first_seen_at == NOW
    assert row.updated_at == clock.now
    assert row.id == first["guid:news-1"].id


def test_identity_falls_back_to_link_then_content(tmp_path: Path, feed_server: FeedServer, sqlite_url: str) -> None:
    no_guid = item("CAR T cells for MS", "https://a.example/x?utm_campaign=1", "CAR T in multiple sclerosis")
    no_link = "<item><title>Only a title about CAR T in MS</title><description>d</description></item>"
    feed_server.add("/f.xml", rss(no_guid, no_link))
    app = make_app(
        sqlite_url, write_feeds_file(tmp_path / "f.yaml", [{"id": "f", "name": "F", "url": feed_server.url("/f.xml")}])
    )
    poller(app, Clock(NOW)).poll_many(["f"])
    keys = sorted(i.key for i in stored(app))
    assert keys[0].startswith("hash:") and keys[1] == "link:https://a.example/x"
    # The same link with new tracking parameters is the same item.
    feed_server.add("/f.xml", rss(no_guid.replace("utm_campaign=1", "utm_campaign=2"), no_link))
    report = poller(app, Clock(NOW + timedelta(hours=1))).poll_many(["f"])[0]
    assert report.new == 0 and len(stored(app)) == 2


def test_same_story_from_two_sources_is_one_entry(tmp_path: Path, feed_server: FeedServer, any_db_url: str) -> None:
    feed_server.add("/a.xml", rss(CAR_T_MS))
    syndicated = CAR_T_MS.replace("news-1", "wire-77").replace("?utm_source=rss", "?utm_medium=wire")
    feed_server.add("/b.xml", rss(syndicated))
    app = make_app(
        any_db_url,
        write_feeds_file(
            tmp_path / "f.yaml",
            [
                {"id": "a", "name": "Source A", "url": feed_server.url("/a.xml")},
                {"id": "b", "name": "Source B", "url": feed_server.url("/b.xml")},
            ],
        ),
    )
    p = poller(app, Clock(NOW))
    p.poll_many(["a"])
    p.poll_many(["b"])
    rows = stored(app)
    assert len(rows) == 2
    primary, duplicate = rows
    assert duplicate.duplicate_of_id == primary.id and primary.duplicate_of_id is None
    page = app.test_client().get("/?topic=car-t-ms").get_data(as_text=True)
    assert page.count("KYV-101") >= 1 and page.count("first patients treated</a>") == 1
    assert "Also reported by" in page and "Source B" in page


def test_one_failing_source_never_stops_the_others(tmp_path: Path, feed_server: FeedServer, any_db_url: str) -> None:
    feed_server.add("/good.xml", rss(CAR_T_MS))
    feed_server.add("/broken.xml", b"<html><body>Oops</body></html>", content_type="text/html")
    app = make_app(
        any_db_url,
        write_feeds_file(
            tmp_path / "f.yaml",
            [
                {"id": "broken", "name": "Broken", "url": feed_server.url("/broken.xml")},
                {"id": "missing", "name": "Missing", "url": feed_server.url("/missing.xml")},
                {"id": "refused", "name": "Refused", "url": "http://127.0.0.1:9/feed.xml"},
                {"id": "good", "name": "Good", "url": feed_server.url("/good.xml")},
            ],
        ),
    )
    clock = Clock(NOW)
    reports = {r.source_id: r for r in poller(app, clock).poll_many(["broken", "missing", "refused", "good"])}
    assert reports["good"].outcome == "ok" and reports["good"].new == 1
    assert {reports[s].outcome for s in ("broken", "missing", "refused")} == {"error"}
    with get_database(app).session_scope() as session:
        sources = {s.id: s for s in session.scalars(select(Source))}
        assert sources["missing"].last_error and "404" in sources["missing"].last_error
        assert sources["broken"].last_error_kind == "parse"
        assert sources["refused"].error_count == 1
        assert sources["good"].status == "ok" and sources["good"].error_count == 0
        assert all(s.polling_owner is None for s in sources.values())  # no lease left behind
        first_retry = sources["missing"].next_poll_at
    assert first_retry is not None and first_retry > NOW
    page = app.test_client().get("/sources").get_data(as_text=True)
    assert "404 Not Found" in page and "Failing" in page


def test_failing_source_backs_off_and_recovers(tmp_path: Path, feed_server: FeedServer, sqlite_url: str) -> None:
    feed_server.add("/flaky.xml", b"down", status=503, conditional=False)
    app = make_app(
        sqlite_url,
        write_feeds_file(
            tmp_path / "f.yaml",
            [{"id": "flaky", "name": "Flaky", "url": feed_server.url("/flaky.xml"), "interval": "10m"}],
        ),
    )
    clock = Clock(NOW)
    delays = []
    for _ in range(4):
        poller(app, clock).poll_many(["flaky"])
        with get_database(app).session_scope() as session:
            source = session.get(Source, "flaky")
            assert source is not None and source.next_poll_at is not None
            delays.append((source.next_poll_at - clock.now).total_seconds())
            clock.now = source.next_poll_at
    # Each delay roughly doubles (±10 % jitter).
    assert all(later > earlier * 1.6 for earlier, later in zip(delays, delays[1:], strict=False))
    feed_server.add("/flaky.xml", rss(CAR_T_MS))
    report = poller(app, clock).poll_many(["flaky"])[0]
    assert report.outcome == "ok"
    with get_database(app).session_scope() as session:
        source = session.get(Source, "flaky")
        assert source is not None
        assert (source.error_count, source.last_error, source.status) == (0, None, "ok")


def test_due_sources_and_gone_sources(tmp_path: Path, feed_server: FeedServer, sqlite_url: str) -> None:
    feed_server.add("/gone.xml", b"gone", status=410, conditional=False)
    feed_server.add("/ok.xml", rss(MS_ONLY))
    app = make_app(
        sqlite_url,
        write_feeds_file(
            tmp_path / "f.yaml",
            [
                {"id": "gone", "name": "Gone", "url": feed_server.url("/gone.xml")},
                {"id": "ok", "name": "OK", "url": feed_server.url("/ok.xml"), "interval": "1h"},
                {"id": "off", "name": "Off", "url": feed_server.url("/off.xml"), "enabled": False},
            ],
        ),
    )
    clock = Clock(NOW)
    p = poller(app, clock)
    assert sorted(r.source_id for r in p.poll_due()) == ["gone", "ok"]
    clock.now += timedelta(minutes=30)
    assert poller(app, clock).poll_due() == []  # nothing due yet; the gone source is disabled for good
    clock.now += timedelta(days=3)
    assert [r.source_id for r in poller(app, clock).poll_due()] == ["ok"]
    with get_database(app).session_scope() as session:
        gone = session.get(Source, "gone")
        assert gone is not None and gone.status == "gone" and gone.disabled_reason


def test_a_live_lease_prevents_a_second_poll(two_sources: Flask) -> None:
    clock = Clock(NOW)
    first, second = poller(two_sources, clock), poller(two_sources, clock)
    from aggregator import store

    with get_database(two_sources).session_scope() as session:
        store.sync_sources(session, first.catalog.sources, NOW)
    with get_database(two_sources).session_scope() as session:
        assert store.claim_source(session, "news", first.owner, NOW, 600)
    assert second.poll_many(["news"])[0].outcome == "skipped"
    # A crashed poller's lease expires.
    clock.now += timedelta(seconds=601)
    assert second.poll_many(["news"])[0].outcome == "ok"


def test_reclassify_applies_changed_rules(two_sources: Flask, tmp_path: Path) -> None:
    poller(two_sources, Clock(NOW)).poll_many(["news"])
    runner = two_sources.test_cli_runner()
    result = runner.invoke(args=["reclassify", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Reclassified 3 item(s): 0 changed" in result.output
    with get_database(two_sources).session_scope() as session:
        session.execute(ItemTopic.__table__.delete())
    result = runner.invoke(args=["reclassify", "--no-progress"])
    assert "Reclassified 3 item(s): 2 changed" in result.output
    with get_database(two_sources).session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ItemTopic)) >= 4


def test_a_source_polled_meanwhile_is_not_polled_again_by_a_due_poll(
    two_sources: Flask, feed_server: FeedServer
) -> None:
    """Two schedulers list the same due source; the second must not refetch it right after the first."""
    clock = Clock(NOW)
    first, second = poller(two_sources, clock), poller(two_sources, clock)
    first.sync_sources()
    listed_by_second = second.due_sources()
    assert "news" in listed_by_second
    assert first.poll_many(["news"], due_only=True)[0].outcome == "ok"
    report = second.poll_many(["news"], due_only=True)[0]
    assert report.outcome == "skipped" and "not due" in (report.error or "")
    assert len(feed_server.requests_to("/news.xml")) == 1
    # An operator's explicit poll still polls at once.
    assert second.poll_many(["news"])[0].outcome == "not-modified"
