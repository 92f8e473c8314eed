"""The link checker against a real loopback server that answers HEAD and GET differently per path: 404/410 seen
(and confirmed by a GET) mark the item's link gone, a page that comes back clears the mark, HEAD refused falls back
to GET, redirects are followed by hand, private addresses other than the source's own host are never asked, two
requests to one host are spaced; `flask check-links` and the scheduler's hourly job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import select

from aggregator.cli.poll import build_poller
from aggregator.db import get_database
from aggregator.models import Item
from aggregator.poll.link_check import LinkChecker
from aggregator.poll.scheduler import configure
from tests.conftest import make_app, write_feeds_file
from tests.feed_server import FeedServer
from tests.kinds_helpers import NOW, Clock, poller, rss, rss_item


@dataclass
class Pages:
    """path → (HEAD status, GET status, Location): a site whose pages live, die and move."""

    answers: dict[str, tuple[int, int, str | None]] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    port: int = 0


class QuietServer(ThreadingHTTPServer):
    """A client that hangs up after the status line (the checker reads no body it does not need) is normal here:
    socketserver would print its traceback to stderr, where the CLI runner of another test would read it."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@pytest.fixture
def pages() -> Iterator[Pages]:
    site = Pages()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, method: str) -> None:
            site.seen.append((method, self.path))
            site.agents.append(self.headers.get("User-Agent", ""))
            head, get, location = site.answers.get(self.path, (404, 404, None))
            self.send_response(head if method == "HEAD" else get)
            if location:
                self.send_header("Location", location)
            body = b"page" if method == "GET" else b""
            self.send_header("Content-Length", str(len(body) if method == "GET" else 4))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer("HEAD")

        def do_GET(self) -> None:  # noqa: N802
            self._answer("GET")

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def checker(fake: FakeTime | None = None) -> LinkChecker:
    fake = fake or FakeTime()
    return LinkChecker("TestAgent/1.0", timeout=(2.0, 2.0), monotonic=fake.monotonic, sleep=fake.sleep)


def test_statuses_head_get_redirects_and_refusals(pages: Pages) -> None:
    base = f"http://127.0.0.1:{pages.port}"
    pages.answers.update({
        "/ok": (200, 200, None), "/gone": (410, 410, None), "/missing": (404, 404, None),
        "/head-liar": (404, 200, None), "/no-head": (405, 200, None), "/moved": (301, 301, "/gone"),
        "/loop": (302, 302, "/loop"), "/to-private": (302, 302, f"http://localhost:{pages.port}/secret"),
    })
    links = checker()
    source = base + "/feed.xml"  # the item's source lives on this host: its own pages may be asked
    assert links.status_of(base + "/ok", source) == 200
    assert pages.seen == [("HEAD", "/ok")]  # HEAD was enough
    assert links.status_of(base + "/gone", source) == 410
    assert pages.seen[-2:] == [("HEAD", "/gone"), ("GET", "/gone")]  # a 404/410 is confirmed with GET
    assert links.status_of(base + "/missing", source) == 404
    assert links.status_of(base + "/head-liar", source) == 200  # HEAD said 404, the page is there
    assert links.status_of(base + "/no-head", source) == 200
    assert links.status_of(base + "/moved", source) == 410
    assert links.status_of(base + "/loop", source) is None
    asked = len(pages.seen)
    # Another name for a private address than the source's host: never asked, directly or by a redirect.
    assert links.status_of(f"http://localhost:{pages.port}/secret", source) is None
    assert links.status_of(base + "/to-private", source) is None
    assert ("HEAD", "/secret") not in pages.seen and ("GET", "/secret") not in pages.seen
    assert len(pages.seen) == asked + 1  # the HEAD of /to-private, nothing else
    assert links.status_of(base + "/ok", "https://public.example/feed") is None  # 127.0.0.1 is not its host
    assert links.status_of("javascript:alert(1)", source) is None
    assert links.status_of("ftp://files.example/a", source) is None
    assert set(pages.agents) == {"TestAgent/1.0"}


def test_requests_to_one_host_are_spaced(pages: Pages) -> None:
    pages.answers["/ok"] = (200, 200, None)
    fake = FakeTime()
    links = checker(fake)
    base = f"http://127.0.0.1:{pages.port}"
    links.status_of(base + "/ok", base)
    links.status_of(base + "/ok", base)
    assert fake.slept == [2.0]


@pytest.fixture
def site(tmp_path: Path, feed_server: FeedServer, pages: Pages, sqlite_url: str) -> Flask:
    base = f"http://127.0.0.1:{pages.port}"
    pages.answers.update({"/a": (200, 200, None), "/b": (410, 410, None), "/c": (404, 404, None)})
    feed_server.add("/feed.xml", rss(*[
        rss_item(f"CAR T-cell therapy in multiple sclerosis: report {name}", f"{base}/{name}",
                 "CD19 CAR T cells in MS.", guid=name) for name in "abc"]))
    app = make_app(sqlite_url, write_feeds_file(tmp_path / "feeds.yaml", [
        {"id": "news", "name": "MS News", "url": feed_server.url("/feed.xml")}]))
    poller(app, Clock(NOW)).poll_many(["news"])
    return app


def gone(app: Flask) -> dict[str, tuple[int | None, bool]]:
    with get_database(app).session_scope() as session:
        return {link.rsplit("/", 1)[1]: (status, checked is not None) for link, status, checked in session.execute(
            select(Item.link, Item.link_gone, Item.link_checked_at))}


def test_check_links_marks_the_dead_and_clears_the_revived(site: Flask, pages: Pages) -> None:
    runner = site.test_cli_runner()
    result = runner.invoke(args=["check-links"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "checked 3: 1 ok, 2 gone (404/410), 0 without a usable answer"
    assert gone(site) == {"a": (None, True), "b": (410, True), "c": (404, True)}
    permalink = site.test_client().get("/feed.json?topic=all").get_json()["items"]
    assert {e["title"][-1]: e["url"].rsplit("/", 2)[-2] for e in permalink}["b"] == "items"
    pages.answers["/b"] = (200, 200, None)  # the page came back
    result = runner.invoke(args=["check-links", "--limit", "3"])
    assert result.stdout.strip() == "checked 3: 2 ok, 1 gone (404/410), 0 without a usable answer"
    assert gone(site) == {"a": (None, True), "b": (None, True), "c": (404, True)}


def test_the_scheduler_checks_links_hourly_unless_switched_off(site: Flask, tmp_path: Path, sqlite_url: str) -> None:
    scheduler = configure(BackgroundScheduler(timezone="UTC"), site, 3600, build_poller(site))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert "check-links" in jobs and jobs["check-links"].trigger.interval.total_seconds() == 3600
    off = make_app(sqlite_url, tmp_path / "feeds.yaml", link_check_per_hour=0)
    scheduler = configure(BackgroundScheduler(timezone="UTC"), off, 3600, build_poller(off))
    assert "check-links" not in {job.id for job in scheduler.get_jobs()}
