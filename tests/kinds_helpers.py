"""Helpers shared by the tests of the API and page source kinds (issue 6): an injected clock and sleep for the
rate limiters, ClinicalTrials.gov and PubMed imitations on the loopback feed server, and a poller on an app."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from sqlalchemy import select

from aggregator.cli.poll import build_poller
from aggregator.db import get_database
from aggregator.models import Item, ItemEvent
from aggregator.poll import retrieve
from aggregator.poll.pipeline import Poller

APIS = Path(__file__).resolve().parent / "data" / "apis"
NOW = datetime(2026, 11, 16, 8, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (APIS / name).read_bytes()


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeTime:
    """A monotonic clock that only moves when someone sleeps: rate limits are checked without waiting."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.t += seconds


def poller(app: Flask, clock: Clock, fake: FakeTime | None = None) -> Poller:
    base = build_poller(app)
    fake = fake or FakeTime()
    retrieve.register(base.settings, monotonic=fake.monotonic, sleep=fake.sleep)
    return Poller(base.database, base.catalog, base.classifier, base.settings, clock=clock)


def stored(app: Flask) -> list[Item]:
    with get_database(app).session_scope() as session:
        return list(session.scalars(select(Item).order_by(Item.id)))


def events(app: Flask) -> list[ItemEvent]:
    with get_database(app).session_scope() as session:
        return list(session.scalars(select(ItemEvent).order_by(ItemEvent.id)))


def query_of(handler: BaseHTTPRequestHandler) -> dict[str, list[str]]:
    return parse_qs(urlsplit(handler.path).query)


def send(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200,
         content_type: str = "application/json;charset=UTF-8") -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class CtGov:
    """/api/v2/studies: the first page, or the page a pageToken names."""

    def __init__(self, first: bytes, pages: dict[str, bytes] | None = None) -> None:
        self.first = first
        self.pages = pages or {}

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        token = query_of(handler).get("pageToken", [None])[0]
        if token is None:
            send(handler, self.first)
        elif token in self.pages:
            send(handler, self.pages[token])
        else:
            send(handler, b"Invalid pageToken", 400, "text/plain")


class EUtils:
    """esearch.fcgi and esummary.fcgi / efetch.fcgi answering from documents keyed by PMID."""

    def __init__(self, search: bytes, summaries: dict[str, Any] | None = None, throttle: int = 0) -> None:
        self.search = search
        self.summaries = summaries or {}
        self.throttle = throttle  # answer this many requests with NCBI's 429 first

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        if self.throttle:
            self.throttle -= 1
            send(handler, fixture("pubmed_eutils_error_api-rate-limit-exceeded.json"), 429)
            return
        path = urlsplit(handler.path).path
        if path.endswith("esearch.fcgi"):
            send(handler, self.search)
            return
        ids = query_of(handler).get("id", [""])[0].split(",")
        if path.endswith("esummary.fcgi"):
            result: dict[str, Any] = {"uids": [i for i in ids if i in self.summaries]}
            result.update({i: self.summaries[i] for i in ids if i in self.summaries})
            send(handler, json.dumps({"header": {"type": "esummary", "version": "0.3"}, "result": result}).encode())
            return
        send(handler, fixture("pubmed_eutils_efetch_html_tags_in_title.xml"), content_type="text/xml")


def rss(*items: str, title: str = "Test feed") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{title}</title>'
            f"<link>https://feed.example/</link><description>d</description>{''.join(items)}</channel></rss>")


def rss_item(title: str, link: str, summary: str = "", guid: str | None = None,
             date: str = "Mon, 16 Nov 2026 07:00:00 +0000", doi: str | None = None) -> str:
    guid_xml = f'<guid isPermaLink="false">{guid}</guid>' if guid else ""
    doi_xml = f"<dc:identifier>doi:{doi}</dc:identifier>" if doi else ""
    return (f"<item><title>{title}</title><link>{link}</link>{guid_xml}<description>{summary}</description>"
            f"<pubDate>{date}</pubDate>{doi_xml}</item>")


def poll_demo_corpus(tmp_path: Path, sqlite_url: str) -> tuple[Flask, list[Any]]:
    """The demo's sources polled as ``make demo`` does (``demo.poll_demo``), from its bundled corpus on loopback."""
    from aggregator import demo
    from tests.conftest import make_app

    corpus = demo.serve_corpus()
    try:
        feeds = demo.write_demo_feeds(tmp_path / "feeds.yaml", f"http://127.0.0.1:{corpus.server_address[1]}")
        app = make_app(sqlite_url, feeds)
        with app.app_context():
            poller = build_poller(app)
            reports = demo.poll_demo(poller)
            poller.shutdown()
    finally:
        corpus.shutdown()
        corpus.server_close()
    return app, reports
