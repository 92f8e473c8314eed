"""Fetching under fire: every hostile server behaviour, polled in the same run as a good source.

Each case proves three things: the hostile source fails with its own plain-language error (recorded on the source
row and shown on /sources), the good source polled in the same run still lands all its items, and the poll ends
(the limits are short: a total deadline of 1 s, a 200 kB cap), so a test that hung or ballooned would fail.
"""

from __future__ import annotations

import html
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from aggregator.cli.poll import build_poller
from aggregator.db import get_database
from aggregator.errors import BodyTooLarge, FetchTimeout, RedirectRefused
from aggregator.models import Item, Source
from aggregator.poll.fetch import Fetcher, FetchLimits, is_private_host, parse_max_age, parse_retry_after
from aggregator.poll.pipeline import Poller
from tests import fault_server as fs
from tests.conftest import make_app, write_feeds_file

GOOD_ITEMS = 5
LIMITS = {
    "fetch_connect_timeout": 1.0,
    "fetch_read_timeout": 0.5,
    "fetch_total_timeout": 1.0,
    "fetch_max_bytes": 200_000,
    "fetch_max_redirects": 5,
    "poll_interval": 3600,
    "poll_max_backoff": 6 * 3600,
}


@pytest.fixture
def server() -> Iterator[fs.FaultServer]:
    with fs.FaultServer() as srv:
        yield srv


@dataclass
class Env:
    app: Flask

    def poller(self, clock: Any = None) -> Poller:
        poller = build_poller(self.app)
        if clock is not None:
            poller.clock = clock
        poller.rng = random.Random(5)
        return poller

    def source(self, source_id: str) -> Source:
        with get_database(self.app).session_scope() as session:
            row = session.get(Source, source_id)
            assert row is not None
            session.expunge(row)
            return row

    def items(self, source_id: str) -> int:
        with get_database(self.app).session_scope() as session:
            return session.scalar(select(func.count(Item.id)).where(Item.source_id == source_id)) or 0

    def sources_page(self) -> str:
        return self.app.test_client().get("/sources").get_data(as_text=True)


def make_env(tmp_path: Path, db_url: str, sources: dict[str, str], **overrides: Any) -> Env:
    feeds = write_feeds_file(tmp_path / "feeds.yaml", [
        {"id": source_id, "name": f"Source {source_id}", "url": url} for source_id, url in sources.items()
    ])
    app = make_app(db_url, feeds, **{**LIMITS, **overrides})
    return Env(app)


@pytest.fixture
def env_factory(tmp_path: Path, sqlite_url: str) -> Iterator[Any]:
    made: list[Env] = []

    def factory(sources: dict[str, str], **overrides: Any) -> Env:
        env = make_env(tmp_path, sqlite_url, sources, **overrides)
        made.append(env)
        return env

    yield factory
    for env in made:
        get_database(env.app).dispose()


# ---------------------------------------------------------------------------------------------------- the table

FEED = fs.simple_feed("hostile", 40)  # about 5 kB: slow enough to drip, small enough to serve


def _redirect_chain(server: fs.FaultServer, length: int) -> str:
    for n in range(length):
        server.add(f"/chain{n}", fs.redirect(f"/chain{n + 1}"))
    server.add(f"/chain{length}", fs.ok(fs.simple_feed("chain", 2)))
    return server.url("/chain0")


def _tls_to_plain_server(server: fs.FaultServer) -> str:
    server.add("/tls", fs.ok(FEED))
    return server.url("/tls").replace("http://", "https://")


def _refused_port(server: fs.FaultServer) -> str:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.xml"


CASES: dict[str, tuple[Any, str, str]] = {
    # name: (set-up returning the hostile URL, error kind recorded, words of the message shown on /sources)
    "never-answers": (lambda s: s.add("/never", fs.never_answer()), "timeout", "did not answer"),
    "drips-one-byte-at-a-time": (lambda s: s.add("/drip", fs.drip(FEED, every=0.02)), "timeout",
                                 "total time limit"),
    "endless-body": (lambda s: s.add("/endless", fs.endless()), "too-large", "limit"),
    "declares-a-huge-length": (lambda s: s.add("/huge", fs.endless(declare_length=True)), "too-large", "limit"),
    "gzip-bomb": (lambda s: s.add("/bomb", fs.gzip_bomb(50 * 1024 * 1024)), "too-large", "after decompression"),
    "truncated-body": (lambda s: s.add("/cut", fs.truncated(FEED, 300)), "connection", "connection broke"),
    "malformed-http": (lambda s: s.add("/garbage", fs.raw(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")), "connection",
                       "could not connect"),
    "redirect-loop": (lambda s: s.add("/loop", fs.redirect("/loop")), "redirects", "redirect loop"),
    "long-redirect-chain": (lambda s: _redirect_chain(s, 8), "redirects", "more than 5 redirects"),
    "redirect-to-file-url": (lambda s: s.add("/to-file", fs.redirect("file:///etc/passwd")), "redirect-refused",
                             "non-web address"),
    "404": (lambda s: s.add("/404", fs.status(404)), "http", "404 Not Found"),
    "403": (lambda s: s.add("/403", fs.status(403)), "http", "403 Forbidden"),
    "500": (lambda s: s.add("/500", fs.status(500)), "http", "500 Internal Server Error"),
    "502": (lambda s: s.add("/502", fs.status(502)), "http", "502 Bad Gateway"),
    "418-unusual-status": (lambda s: s.add("/418", fs.status(418)), "http", "HTTP 418"),
    "dns-failure": (lambda s: "http://no-such-host.invalid/feed.xml", "dns", "could not be resolved"),
    "connection-refused": (_refused_port, "connection", "could not connect"),
    "tls-error": (_tls_to_plain_server, "tls", "secure connection failed"),
    "html-instead-of-feed": (lambda s: s.add("/page", fs.ok("<!doctype html><html><head><title>Moved</title>"
                                                           "</head><body>We moved.</body></html>", "text/html")),
                             "parse", "web page, not a feed"),
    "empty-body": (lambda s: s.add("/empty", fs.ok(b"")), "parse", "empty body"),
    "binary-junk": (lambda s: s.add("/junk", fs.ok(random.Random(1).randbytes(4096), "application/octet-stream")),
                    "parse", "neither a feed"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_source_fails_alone_and_the_good_source_lands(case: str, server: fs.FaultServer,
                                                              env_factory: Any) -> None:
    setup, kind, words = CASES[case]
    hostile_url = setup(server)
    good_url = server.add("/good.xml", fs.ok(fs.simple_feed("good", GOOD_ITEMS)))
    env = env_factory({"hostile": hostile_url, "good": good_url})

    reports = {report.source_id: report for report in env.poller().poll_many(["hostile", "good"])}

    assert reports["good"].outcome == "ok" and reports["good"].new == GOOD_ITEMS
    assert env.items("good") == GOOD_ITEMS
    assert reports["hostile"].outcome == "error"
    row = env.source("hostile")
    assert (row.status, row.last_error_kind, row.error_count) == ("error", kind, 1), row.last_error
    assert words in (row.last_error or ""), row.last_error
    assert row.polling_owner is None and row.polling_since is None  # the lease is released after a failure
    assert env.items("hostile") == 0
    assert html.escape(row.last_error or "", quote=True) in env.sources_page() or words in env.sources_page()


def test_html_page_advertising_its_feed_offers_that_link(server: fs.FaultServer, env_factory: Any) -> None:
    page = ('<!doctype html><html><head><title>Blog</title><link rel="alternate" type="application/rss+xml" '
            'href="/real-feed.xml"></head><body>Hello</body></html>')
    env = env_factory({"blog": server.add("/blog", fs.ok(page, "text/html; charset=utf-8"))})
    env.poller().poll_many(["blog"])
    row = env.source("blog")
    assert row.feed_hint == server.url("/real-feed.xml")
    assert server.url("/real-feed.xml") in (row.last_error or "")
    assert server.url("/real-feed.xml") in env.sources_page()


def test_gzip_within_the_cap_is_decompressed(server: fs.FaultServer, env_factory: Any) -> None:
    env = env_factory({"zipped": server.add("/z.xml", fs.gzipped(fs.simple_feed("zipped", 7)))})
    assert env.poller().poll_many(["zipped"])[0].new == 7


def test_short_redirect_chain_is_followed(server: fs.FaultServer, env_factory: Any) -> None:
    env = env_factory({"chain": _redirect_chain(server, 3)})
    report = env.poller().poll_many(["chain"])[0]
    assert (report.outcome, report.new) == ("ok", 2)


# ---------------------------------------------------------------------------------------------------- fetcher limits


class SteppingClock:
    """A monotonic clock that moves ``step`` seconds each time it is read: time passes only when the code looks."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_total_deadline_is_checked_between_trickles_not_only_per_read(server: fs.FaultServer) -> None:
    # Every byte arrives well within the read timeout; only the total deadline can stop this fetch.
    url = server.add("/drip", fs.drip(FEED, every=0.001))
    fetcher = Fetcher("test", FetchLimits(read_timeout=5, total_timeout=10), monotonic=SteppingClock(1.0))
    with pytest.raises(FetchTimeout, match="total time limit"):
        fetcher.fetch(url)


def test_gzip_bomb_never_inflates_past_the_cap(server: fs.FaultServer) -> None:
    import tracemalloc

    url = server.add("/bomb", fs.gzip_bomb(200 * 1024 * 1024))
    fetcher = Fetcher("test", FetchLimits(max_bytes=1024 * 1024))
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge, match="after decompression"):
            fetcher.fetch(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024  # 200 MB inflated would show; the cap keeps us near 1 MB


# ---------------------------------------------------------------------------------------------------- redirects


def test_permanent_redirects_move_the_stored_url(server: fs.FaultServer, env_factory: Any) -> None:
    server.add("/old-301", fs.redirect("/mid-308", 301))
    server.add("/mid-308", fs.redirect("/new.xml", 308))
    server.add("/new.xml", fs.ok(fs.simple_feed("moved", 3)))
    env = env_factory({"moved": server.url("/old-301")})
    env.poller().poll_many(["moved"])
    row = env.source("moved")
    assert (row.url, row.moved_to, row.configured_url) == (server.url("/new.xml"), server.url("/new.xml"),
                                                          server.url("/old-301"))
    before = len(server.hits_to("/old-301"))
    with get_database(env.app).session_scope() as session:  # make it due again
        session.get(Source, "moved").next_poll_at = None  # type: ignore[union-attr]
    env.poller().poll_many(["moved"])
    assert len(server.hits_to("/old-301")) == before  # the next poll goes straight to the new address


@pytest.mark.parametrize("codes", [(302,), (307,), (301, 302), (302, 301)])
def test_temporary_redirects_keep_the_stored_url(codes: tuple[int, ...], server: fs.FaultServer,
                                                 env_factory: Any) -> None:
    for n, code in enumerate(codes):
        server.add(f"/hop{n}", fs.redirect(f"/hop{n + 1}", code))
    server.add(f"/hop{len(codes)}", fs.ok(fs.simple_feed("temp", 2)))
    env = env_factory({"temp": server.url("/hop0")})
    assert env.poller().poll_many(["temp"])[0].new == 2
    row = env.source("temp")
    assert (row.url, row.moved_to) == (server.url("/hop0"), None)


def test_410_gone_disables_the_source(server: fs.FaultServer, env_factory: Any) -> None:
    env = env_factory({"gone": server.add("/gone", fs.status(410)),
                       "good": server.add("/good", fs.ok(fs.simple_feed("good", 1)))})
    env.poller().poll_many(["gone", "good"])
    row = env.source("gone")
    assert row.status == "gone" and row.disabled_reason and "410 Gone" in row.disabled_reason
    far_future = datetime.now(UTC) + timedelta(days=365)
    assert "gone" not in env.poller(clock=lambda: far_future).due_sources()
    assert "good" in env.poller(clock=lambda: far_future).due_sources()


def test_redirect_to_private_address_is_refused_for_a_public_source(server: fs.FaultServer) -> None:
    # The "public" source is reached through our loopback server acting as its HTTP proxy, so no packet leaves the
    # machine; the fetcher still sees a public address as the source and must refuse the hop to the metadata service.
    public = "http://93.184.216.34/feed.xml"
    server.add(public, fs.redirect("http://169.254.169.254/latest/meta-data/"))
    fetcher = Fetcher("test", FetchLimits(total_timeout=5))
    fetcher.session.proxies = {"http": server.url("")}
    fetcher.session.trust_env = False
    with pytest.raises(RedirectRefused, match="private or local address"):
        fetcher.fetch(public)
    assert [hit.path for hit in server.hits] == [public]  # refused before asking the private address anything


def test_redirect_between_private_addresses_is_allowed_when_the_source_is_private(server: fs.FaultServer) -> None:
    with fs.FaultServer(host="127.0.0.2") as other:
        target = other.add("/feed.xml", fs.ok(fs.simple_feed("other", 1)))
        url = server.add("/hop", fs.redirect(target))
        fetched = Fetcher("test", FetchLimits(total_timeout=5)).fetch(url)
    assert fetched.final_url == target and b"other item 0" in fetched.body


@pytest.mark.parametrize("target", ["http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/",
                                    "http://192.168.1.1/", "http://127.0.0.1:5432/", "http://[::1]/",
                                    "http://[fe80::1]/", "http://0.0.0.0/", "http://localhost/",
                                    "http://[::ffff:10.0.0.1]/"])
def test_private_targets_are_refused_from_a_public_source(target: str) -> None:
    fetcher = Fetcher("test")
    with pytest.raises(RedirectRefused):
        fetcher._check_redirect("https://journal.example/feed", target, allow_private=False)
    fetcher._check_redirect("http://127.0.0.1/feed", target, allow_private=True)  # a private source may


@pytest.mark.parametrize("host,private", [("10.1.2.3", True), ("172.16.0.1", True), ("169.254.1.1", True),
                                          ("::1", True), ("[::1]", True), ("fc00::1", True), ("127.0.0.2", True),
                                          ("93.184.216.34", False), ("8.8.8.8", False),
                                          ("2606:4700:4700::1111", False)])
def test_is_private_host(host: str, private: bool) -> None:
    assert is_private_host(host) is private


# ---------------------------------------------------------------------------------------------------- back-off


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def test_backoff_grows_exponentially_to_a_ceiling_and_recovers(server: fs.FaultServer, env_factory: Any) -> None:
    failing = {"on": True}
    good = fs.ok(fs.simple_feed("flaky", 2))
    bad = fs.status(500)
    server.add("/flaky", lambda handler, srv: (bad if failing["on"] else good)(handler, srv))
    env = env_factory({"flaky": server.url("/flaky")}, poll_interval=60, poll_max_backoff=600)
    clock = Clock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    poller = env.poller(clock)
    delays = []
    for _ in range(7):
        assert poller.poll_due()  # due exactly when the back-off says
        row = env.source("flaky")
        assert row.next_poll_at is not None
        delays.append((row.next_poll_at - clock.now).total_seconds())
        clock.now = row.next_poll_at - timedelta(seconds=1)
        assert poller.due_sources() == []  # not a second early
        clock.now = row.next_poll_at
    expected = [60, 120, 240, 480, 600, 600, 600]
    for delay, base in zip(delays, expected, strict=True):
        assert base * 0.9 <= delay <= base * 1.1, (delays, expected)
    assert env.source("flaky").error_count == 7 and env.source("flaky").enabled  # never given up on

    failing["on"] = False
    assert poller.poll_due()[0].new == 2
    row = env.source("flaky")
    assert (row.status, row.error_count, row.last_error) == ("ok", 0, None)
    assert row.next_poll_at is not None and 54 <= (row.next_poll_at - clock.now).total_seconds() <= 66


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_seconds_is_honoured(code: int, server: fs.FaultServer, env_factory: Any) -> None:
    env = env_factory({"busy": server.add("/busy", fs.status(code, {"Retry-After": "7200"}))}, poll_interval=60)
    clock = Clock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    env.poller(clock).poll_due()
    row = env.source("busy")
    assert row.next_poll_at is not None and (row.next_poll_at - clock.now).total_seconds() >= 7200
    assert str(code) in (row.last_error or "")


def test_retry_after_http_date_is_honoured_and_absurd_values_are_clamped() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert parse_retry_after("Fri, 20 Nov 2026 15:00:00 GMT", now) == 3 * 3600
    assert parse_retry_after("999999999", now) == 7 * 24 * 3600
    assert parse_retry_after("0", now) == 60  # never hammer: at least a minute
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None


def test_cache_control_and_expires_within_bounds() -> None:
    from requests.structures import CaseInsensitiveDict

    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert parse_max_age(CaseInsensitiveDict({"Cache-Control": "public, max-age=7200"}), now) == 7200
    assert parse_max_age(CaseInsensitiveDict({"Cache-Control": "max-age=99999999999"}), now) == 7 * 24 * 3600
    assert parse_max_age(CaseInsensitiveDict({"Cache-Control": "no-store, max-age=7200"}), now) is None
    assert parse_max_age(CaseInsensitiveDict({"Expires": "Fri, 20 Nov 2026 14:00:00 GMT"}), now) == 7200
    assert parse_max_age(CaseInsensitiveDict({"Expires": "0"}), now) is None
    assert parse_max_age(CaseInsensitiveDict({"Expires": "Thu, 01 Jan 1970 00:00:00 GMT"}), now) is None


def test_cache_control_postpones_the_next_poll(server: fs.FaultServer, env_factory: Any) -> None:
    env = env_factory({"cached": server.add("/c.xml", fs.ok(fs.simple_feed("c", 1),
                                                            headers={"Cache-Control": "max-age=86400"}))},
                      poll_interval=600)
    clock = Clock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    env.poller(clock).poll_due()
    row = env.source("cached")
    assert row.next_poll_at is not None and (row.next_poll_at - clock.now).total_seconds() >= 86400 * 0.9


# ------------------------------------------------------------------------------------------------- one host at a time


def test_never_more_than_one_request_at_a_time_per_host(env_factory: Any) -> None:
    with fs.FaultServer("127.0.0.1") as one, fs.FaultServer("127.0.0.2") as two:
        sources = {}
        overlapped: list[bool] = []
        for n in range(4):
            # Until it has happened once, an answer waits for the other host to have a request in flight too
            # (at most 2 s): if the poller ran the hosts one after the other, that never happens.
            for name, srv, other in (("a", one, two), ("b", two, one)):
                def behave(handler: Any, server: fs.FaultServer, other: fs.FaultServer = other,
                           body: str = fs.simple_feed(f"{name}{n}", 1)) -> None:
                    if not any(overlapped):
                        overlapped.append(other.wait_for_active(1, 2.0))
                    fs.send(handler, 200, body.encode(), "application/rss+xml")

                sources[f"{name}{n}"] = srv.add(f"/{name}{n}.xml", behave)
        env = env_factory(sources, poll_workers=8, fetch_read_timeout=5, fetch_total_timeout=10)
        reports = env.poller().poll_many(list(sources))
        assert [r.outcome for r in reports] == ["ok"] * 8
        assert one.max_active == 1 and two.max_active == 1  # one request at a time per host ...
        assert len(one.hits) == len(two.hits) == 4
        # ... while the two hosts were polled side by side: a request found the other host busy.
        assert any(overlapped)
