"""`flask check-sources --live` (issue 14): one real fetch of each source against the loopback fault server, with a
frozen clock; the diagnosis in words for each failure class; exit 1 when a seed publisher has no working route."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from aggregator.domain import SourceSpec
from aggregator.errors import HTTPStatusError, ParseError
from aggregator.poll.diagnosis import (
    CheckResult,
    diagnose,
    discover_feed,
    failed_seed_groups,
    looks_built_by_javascript,
)
from tests.conftest import make_app, write_feeds_file
from tests.fault_server import FaultServer, FeedItem, ok, rss, status

NOW = datetime(2026, 11, 16, 8, tzinfo=UTC)
REAL = Path(__file__).resolve().parent / "data" / "real"
SPEC = SourceSpec(id="s", name="S", url="https://s.example/feed")
JS_PAGE = (b"<!doctype html><html><head><title>Research</title><script src=a.js></script><script src=b.js></script>"
           b"<script>boot()</script></head><body><div id=\"app\"></div></body></html>")
FEED_PAGE = (b'<!doctype html><html><head><link rel="alternate" type="application/rss+xml" href="/news/feed/">'
             b"</head><body><p>News</p></body></html>")


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as fault:
        yield fault


# ---------------------------------------------------------------- diagnosis in words (pure)


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"error": HTTPStatusError("refused", 403)}, "403: the site refuses our client"),
    ({"error": HTTPStatusError("missing", 404)}, "404: the address is wrong or gone"),
    ({"error": ParseError("not a feed"), "body": FEED_PAGE, "final_url": "https://s.example/news/"},
     "HTML page: its feed is at https://s.example/news/feed/"),
    ({"error": ParseError("not a feed", feed_link="https://s.example/rss")}, "its feed is at https://s.example/rss"),
    ({"error": ParseError("no element matches"), "body": JS_PAGE}, "JavaScript-built page: "),
    ({"items": 0}, "200 with 0 items: wrong subject value or query?"),
    ({"items": 5, "matches": 0}, "works: 5 items, none matches a topic"),
    ({"items": 5, "matches": 2}, "works: 5 items, 2 match a topic"),
])
def test_diagnosis(kwargs: dict, expected: str) -> None:  # type: ignore[type-arg]
    assert expected in diagnose(SPEC, **kwargs)


def test_js_detection_and_feed_discovery_do_not_fire_on_ordinary_pages() -> None:
    article = b"<!doctype html><html><body>" + b"<p>Plenty of real text in the page. </p>" * 20 + b"</body></html>"
    assert not looks_built_by_javascript(article)
    assert looks_built_by_javascript(JS_PAGE)
    # The NMSS listing's custom elements (c-nmss-*), as the Selenium scraper saw them.
    assert looks_built_by_javascript(b"<html><body><c-nmss-atom-title-header></c-nmss-atom-title-header></body></html>")
    assert discover_feed(article, "https://s.example/") is None
    assert discover_feed((REAL / "wordpress_rss2_feed_wp4.7.xml").read_bytes(), "https://s.example/") is None


def test_a_seed_group_fails_only_when_no_route_works() -> None:
    specs = [SourceSpec(id="a", name="A", url="https://a/", group="G", seed=True),
             SourceSpec(id="b", name="B", url="https://b/", group="G", seed=True),
             SourceSpec(id="c", name="C", url="https://c/", group="H", seed=True),
             SourceSpec(id="d", name="D", url="https://d/", group="Other")]
    results = {"a": CheckResult("a", False, "403"), "b": CheckResult("b", True, "200", 3),
               "c": CheckResult("c", False, "200"), "d": CheckResult("d", False, "404")}
    assert failed_seed_groups(specs, results) == ["H"]


# ---------------------------------------------------------------- the command, on the loopback fault server


def _feeds(tmp_path: Path, server: FaultServer, lonely_ok: bool) -> Path:
    good = rss([FeedItem("CAR T cells for multiple sclerosis: first patients", "https://s.example/a", "a",
                         published=datetime(2026, 11, 10, tzinfo=UTC)),
                FeedItem("A study of sleep", "https://s.example/b", "b", published=datetime(2026, 11, 1, tzinfo=UTC))])
    server.add("/good.xml", ok(good))
    server.add("/forbidden.xml", status(403))
    server.add("/empty.xml", ok(rss([])))
    server.add("/page", ok(FEED_PAGE, "text/html"))
    server.add("/listing", ok(JS_PAGE, "text/html"))
    server.add("/lonely.xml", ok(good) if lonely_ok else status(404))
    return write_feeds_file(tmp_path / "feeds.yaml", [
        {"id": "pub-feed", "name": "Pub feed", "url": server.url("/good.xml"), "group": "Pub", "seed": True},
        {"id": "pub-site", "name": "Pub site", "url": server.url("/forbidden.xml"), "group": "Pub", "seed": True},
        {"id": "medrxiv", "name": "Empty", "url": server.url("/empty.xml")},
        {"id": "html-not-feed", "name": "Page", "url": server.url("/page")},
        {"id": "listing", "name": "Listing", "kind": "html", "url": server.url("/listing"),
         "options": {"item": "a.list-item"}},
        {"id": "lonely", "name": "Lonely", "url": server.url("/lonely.xml"), "group": "Lonely", "seed": True},
        {"id": "off", "name": "Off", "url": server.url("/never"), "enabled": False},
    ])


def test_check_sources_live_reports_each_source_and_fails_for_a_blind_seed(
    tmp_path: Path, server: FaultServer, sqlite_url: str
) -> None:
    app = make_app(sqlite_url, _feeds(tmp_path, server, lonely_ok=False))
    with time_machine.travel(NOW, tick=False):
        result = app.test_cli_runner().invoke(args=["check-sources", "--live", "--no-progress"])
    out = result.output
    assert result.exit_code == 1, out
    assert "OK   pub-feed [Pub]" in out
    assert "status 200 · 2 items · newest 2026-11-10 (6 d ago) · car-t-autoimmune 1, car-t-ms 1, ms-research 1" in out
    assert "FAIL pub-site [Pub]" in out and "403: the site refuses our client" in out
    assert "200 with 0 items: wrong subject value or query?" in out
    assert f"HTML page: its feed is at {server.url('/news/feed/')}" in out
    assert "JavaScript-built page: the items are drawn in the browser; use a sitemap or search route" in out
    assert "404: the address is wrong or gone" in out
    assert "No working route for seed publisher(s): Lonely." in out
    assert " off " not in out and not server.hits_to("/never")  # disabled sources are not fetched
    assert "2 of 6 source(s) work." not in out and "1 of 6 source(s) work." in out


def test_check_sources_exits_zero_when_every_seed_has_a_route(
    tmp_path: Path, server: FaultServer, sqlite_url: str
) -> None:
    app = make_app(sqlite_url, _feeds(tmp_path, server, lonely_ok=True))
    with time_machine.travel(NOW, tick=False):
        result = app.test_cli_runner().invoke(args=["check-sources", "--live", "--no-progress", "--source", "lonely",
                                                    "--source", "pub-site", "--source", "pub-feed"])
    assert result.exit_code == 0, result.output
    assert "2 of 3 source(s) work." in result.output
    # Nothing is stored by a check.
    from tests.kinds_helpers import stored
    assert stored(app) == []


def test_without_live_nothing_is_fetched_and_help_explains(
    tmp_path: Path, server: FaultServer, sqlite_url: str
) -> None:
    app = make_app(sqlite_url, _feeds(tmp_path, server, lonely_ok=False))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["check-sources"])
    assert dry.exit_code == 0 and "Add --live to do it." in dry.output and not server.hits_to("/good.xml")
    helptext = runner.invoke(args=["check-sources", "--help"]).output
    assert "diagnosis" in helptext and "seed" in helptext and "--live" in helptext
    assert runner.invoke(args=["check-sources", "--source", "nope"]).exit_code == 2


def test_a_sitemap_check_reads_only_a_few_pages(tmp_path: Path, server: FaultServer, sqlite_url: str) -> None:
    base = server.url("")
    locs = "".join(f"<url><loc>{base}/news/{n}</loc><lastmod>2026-11-0{n}</lastmod></url>" for n in range(1, 6))
    server.add("/sitemap.xml", ok(f"<urlset>{locs}</urlset>", "application/xml"))
    for n in range(1, 6):
        server.add(f"/news/{n}", ok(f"<html><head><title>CAR T for multiple sclerosis, part {n}</title></head></html>",
                                    "text/html"))
    feeds = write_feeds_file(tmp_path / "feeds.yaml", [
        {"id": "site", "name": "Site", "kind": "sitemap", "url": server.url("/sitemap.xml"), "group": "G",
         "seed": True}])
    app = make_app(sqlite_url, feeds)
    with time_machine.travel(NOW, tick=False):
        result = app.test_cli_runner().invoke(args=["check-sources", "--live", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "status 200 · 3 items · newest 2026-11-05 (11 d ago)" in result.output
    assert [n for n in range(1, 6) if server.hits_to(f"/news/{n}")] == [3, 4, 5]  # the newest three
