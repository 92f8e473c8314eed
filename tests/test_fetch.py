"""The fetcher against a real HTTP server on 127.0.0.1: politeness, conditional GET, redirects, error classes.
(Hostile servers — drip feeds, bombs, endless bodies — are in test_hostile_fetch.py.)"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from aggregator.domain import Conditional
from aggregator.errors import BodyTooLarge, ConnectionFailed, HTTPStatusError, TooManyRedirects
from aggregator.poll.fetch import Fetcher, FetchLimits, parse_max_age, parse_retry_after
from tests.feed_server import FeedServer

NOW = datetime(2026, 11, 16, 8, tzinfo=UTC)
BODY = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"


def fetcher(**limits: float) -> Fetcher:
    return Fetcher("TestAgent/1.0 (+https://example.org)", FetchLimits(**limits), clock=lambda: NOW)  # type: ignore[arg-type]


def test_sends_user_agent_and_accepts_gzip(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", BODY)
    result = fetcher().fetch(url)
    assert result.status == 200 and result.body == BODY
    request = feed_server.requests_to("/feed")[0]
    assert request.headers["user-agent"] == "TestAgent/1.0 (+https://example.org)"
    assert "gzip" in request.headers["accept-encoding"]
    assert "application/rss+xml" in request.headers["accept"]


def test_conditional_get_cycle(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", BODY)
    first = fetcher().fetch(url)
    assert first.etag and first.last_modified
    second = fetcher().fetch(url, Conditional(first.etag, first.last_modified))
    assert second.not_modified and second.status == 304 and second.body == b""
    sent = feed_server.requests_to("/feed")[1].headers
    assert sent["if-none-match"] == first.etag
    assert sent["if-modified-since"] == first.last_modified


def test_gzip_body_is_decompressed(feed_server: FeedServer) -> None:
    url = feed_server.add("/gz", gzip.compress(BODY), headers={"Content-Encoding": "gzip"})
    assert fetcher().fetch(url).body == BODY


def test_size_cap_counts_decompressed_bytes(feed_server: FeedServer) -> None:
    url = feed_server.add("/gz", gzip.compress(b" " * 200_000), headers={"Content-Encoding": "gzip"})
    with pytest.raises(BodyTooLarge, match="after decompression"):
        fetcher(max_bytes=100_000).fetch(url)


def test_permanent_redirect_is_reported_temporary_is_not(feed_server: FeedServer) -> None:
    target = feed_server.add("/new", BODY)
    feed_server.add("/old", b"", status=301, headers={"Location": "/new"}, conditional=False)
    feed_server.add("/tmp", b"", status=302, headers={"Location": "/new"}, conditional=False)
    feed_server.add("/mixed", b"", status=308, headers={"Location": "/tmp"}, conditional=False)
    assert fetcher().fetch(feed_server.url("/old")).permanent_redirect == target
    assert fetcher().fetch(feed_server.url("/tmp")).permanent_redirect is None
    assert fetcher().fetch(feed_server.url("/mixed")).permanent_redirect is None
    assert fetcher().fetch(feed_server.url("/tmp")).final_url == target


def test_redirect_loop_is_stopped(feed_server: FeedServer) -> None:
    feed_server.add("/a", b"", status=302, headers={"Location": "/b"}, conditional=False)
    feed_server.add("/b", b"", status=302, headers={"Location": "/a"}, conditional=False)
    with pytest.raises(TooManyRedirects, match="more than 3 redirects"):
        fetcher(max_redirects=3).fetch(feed_server.url("/a"))


@pytest.mark.parametrize(
    ("status", "message"),
    [(404, "404 Not Found"), (403, "403 Forbidden"), (410, "410 Gone"), (500, "500"), (503, "503"), (418, "HTTP 418")],
)
def test_status_errors_have_plain_messages(feed_server: FeedServer, status: int, message: str) -> None:
    url = feed_server.add("/x", b"no", status=status, conditional=False)
    with pytest.raises(HTTPStatusError) as info:
        fetcher().fetch(url)
    assert info.value.status == status and message in str(info.value)
    assert info.value.gone == (status == 410)


def test_retry_after_is_read_from_429(feed_server: FeedServer) -> None:
    url = feed_server.add("/x", b"slow down", status=429, headers={"Retry-After": "7200"}, conditional=False)
    with pytest.raises(HTTPStatusError) as info:
        fetcher().fetch(url)
    assert info.value.retry_after == 7200


def test_connection_refused_is_a_connection_failure() -> None:
    with pytest.raises(ConnectionFailed, match="could not connect"):
        fetcher(connect_timeout=2).fetch("http://127.0.0.1:9/feed")


def test_retry_after_and_max_age_parsing() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("1", NOW) == 60  # clamped up: never hammer
    assert parse_retry_after("99999999", NOW) == 7 * 24 * 3600  # clamped down
    assert parse_retry_after("Mon, 16 Nov 2026 10:00:00 GMT", NOW) == 7200
    assert parse_retry_after("soon", NOW) is None
    from requests.structures import CaseInsensitiveDict

    assert parse_max_age(CaseInsensitiveDict({"Cache-Control": "public, max-age=1800"}), NOW) == 1800
    assert parse_max_age(CaseInsensitiveDict({"Cache-Control": "no-cache, max-age=1800"}), NOW) is None
    assert parse_max_age(CaseInsensitiveDict({"Expires": "Mon, 16 Nov 2026 09:00:00 GMT"}), NOW) == 3600
    assert parse_max_age(CaseInsensitiveDict({}), NOW) is None


def test_hostile_numeric_headers_do_not_crash(feed_server: FeedServer) -> None:
    url = feed_server.add("/x", b"busy", status=503, headers={"Retry-After": "²"}, conditional=False)
    with pytest.raises(HTTPStatusError) as info:
        fetcher().fetch(url)
    assert info.value.retry_after is None
    assert parse_retry_after("٣", NOW) is None
