"""Hostile documents: every file in tests/data/hostile/ is parsed and cleaned as a real poll would, and checked
against its ``.expect.json`` (add a case by adding a file and its expectation).

Whatever the document, parsing either returns items or raises ``ParseError`` with a plain message; nothing else
escapes, nothing is expanded or read from disk or network, and what comes out is inert text or allow-listed HTML.
"""

from __future__ import annotations

import json
import re
import tracemalloc
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aggregator.domain import CleanItem, SourceSpec
from aggregator.errors import ParseError
from aggregator.poll.clean import DATE_PROBLEM, clean_item
from aggregator.poll.parse.feed import parse_feed
from tests import fault_server as fs

HOSTILE = Path(__file__).parent / "data" / "hostile"
CASES = sorted(p for p in HOSTILE.iterdir() if not p.name.endswith(".expect.json") and p.suffix != ".md"
               and p.name != "xss_vectors.json")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SPEC = SourceSpec(id="hostile", name="Hostile", url="http://source.example/feed.xml")
_UNSAFE = re.compile(r"<\s*(script|iframe|object|embed|style|form|svg|img)\b|\son\w+\s*=|javascript:|data:",
                     re.IGNORECASE)


def _texts(item: CleanItem) -> list[str]:
    return [item.title, item.summary_html, item.summary_text, item.content_text, item.link or "", item.key,
            item.author or "", *item.categories]


def test_every_hostile_file_has_an_expectation() -> None:
    assert CASES, "no hostile fixtures found"
    missing = [p.name for p in CASES if not p.with_name(p.name + ".expect.json").exists()]
    assert missing == []


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_hostile_document(path: Path) -> None:
    expect: dict[str, Any] = json.loads(path.with_name(path.name + ".expect.json").read_text(encoding="utf-8"))
    data = path.read_bytes()
    content_type = "text/html; charset=utf-8" if path.suffix == ".html" else ""
    tracemalloc.start()
    try:
        try:
            parsed = parse_feed(data, SPEC.url, content_type)
            error: ParseError | None = None
        except ParseError as exc:
            parsed, error = [], exc
        items = [clean_item(item, SPEC, NOW) for item in parsed]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, f"{peak:,} bytes at peak: something was expanded"

    outcome = expect["outcome"]
    if outcome == "parse-error":
        assert error is not None, f"expected a ParseError, got {len(items)} items"
    elif outcome == "items":
        assert error is None, str(error)
    if error is not None:
        assert str(error) and "Traceback" not in str(error)
        if "error_contains" in expect:
            assert expect["error_contains"] in str(error)
        if "feed_link" in expect:
            assert error.feed_link == expect["feed_link"]
    if "count" in expect:
        assert len(items) == expect["count"], [i.title for i in items]
    titles = [item.title for item in items]
    for title in expect.get("titles_include", []):
        assert title in titles
    for prefix in expect.get("titles_include_prefix", []):
        assert any(t.startswith(prefix) for t in titles), titles
    if "distinct_keys" in expect:
        assert len({item.key for item in items}) == expect["distinct_keys"]
    if "published" in expect:
        got = [item.published_at.isoformat() if item.published_at else None for item in items]
        assert got == expect["published"]
    if "date_problems" in expect:  # the reason recorded for each date not used (clean.DATE_PROBLEM), or null
        got_problems = [(item.extra.get(DATE_PROBLEM) or {}).get("reason") for item in items]
        assert got_problems == expect["date_problems"]
    if "links" in expect:
        assert [item.link for item in items] == expect["links"]
    for item in items:
        texts = _texts(item)
        for needle in expect.get("absent", []):
            assert all(needle not in text for text in texts), (needle, texts)
        if "max_text_length" in expect:
            assert all(len(text) <= expect["max_text_length"] for text in texts)
        if expect.get("no_control_chars"):
            assert all(unicodedata.category(ch) != "Cc" for ch in item.title)
        assert not _UNSAFE.search(item.summary_html), item.summary_html
        assert "<" not in item.title or item.title == unicodedata.normalize("NFC", item.title)  # text, not markup


def test_external_entity_over_http_is_never_fetched() -> None:
    with fs.FaultServer() as server:
        secret = server.add("/secret", fs.ok("TOP-SECRET", "text/plain"))
        document = (f"<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY xxe SYSTEM '{secret}'>"
                    f"<!ENTITY % dtd SYSTEM '{secret}'> %dtd;]><rss version='2.0'><channel><title>T</title>"
                    "<item><title>Leak &xxe;</title><link>http://example.org/1</link></item></channel></rss>")
        try:
            items = parse_feed(document.encode(), SPEC.url)
        except ParseError:
            items = []
        assert server.hits == []  # no request from the parser, ever
        assert all("TOP-SECRET" not in (item.title + item.summary) for item in items)


def test_duplicate_guids_are_stored_once(tmp_path: Path, sqlite_url: str) -> None:
    """The parser keeps both entries; storage keeps the first (the unique key is per source and identity)."""
    from aggregator import store
    from aggregator.db import get_database
    from tests.conftest import make_app, write_feeds_file

    app = make_app(sqlite_url, write_feeds_file(tmp_path / "feeds.yaml", [
        {"id": "hostile", "name": "Hostile", "url": SPEC.url}]))
    items = [clean_item(i, SPEC, NOW) for i in parse_feed((HOSTILE / "duplicate_guids.xml").read_bytes(), SPEC.url)]
    database = get_database(app)
    with database.session_scope() as session:
        store.sync_sources(session, (SPEC,), NOW)
        session.flush()
        counts = store.upsert_items(session, "hostile", items, [[] for _ in items], NOW)
        again = store.upsert_items(session, "hostile", items, [[] for _ in items], NOW)
    assert (counts.new, again.new, again.unchanged) == (2, 0, 2)
    database.dispose()
