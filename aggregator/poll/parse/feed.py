"""RSS, Atom and RDF bytes → ``ParsedItem`` list, with feedparser.

The bozo policy (feedparser never raises; it flags a document it had to repair):
- survivable flags (wrong or missing encoding declaration, an XML feed served as text/html, recovered
  well-formedness errors) are logged as warnings and the entries are kept;
- a document with no feed version and no entries is not a feed: ``ParseError``; when it is an HTML page that
  advertises a feed (``<link rel="alternate" type="application/rss+xml">``), the error carries that link;
- a bad entry is skipped with a warning; the source fails only when every entry failed.

Plain UTF-8 RSS 2.0 and RSS 1.0 (RDF) are read by ``feed_fast.fast_entries`` (lxml), which gives the entries
feedparser would give and refuses whatever it is not sure of; everything else (Atom among it) goes to feedparser.

Dates are read from the raw strings the feed wrote (``published``, ``updated``, ``created``) by
``parse/dates.py``, not taken from feedparser's ``*_parsed``: its fallback parsers complete a date they half
understood from the day they run (issue #12).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, tzinfo
from typing import Any
from urllib.parse import urljoin

from ...domain import ParsedItem
from ...errors import ParseError
from .dates import parse_date
from .feed_fast import fast_entries

log = logging.getLogger(__name__)

# feedparser (and BeautifulSoup) are imported when a document needs them: a poll answered by 304s never does.
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json")
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)", re.IGNORECASE)
_ROOT_ELEMENT = re.compile(rb"<([A-Za-z_][\w.:-]{0,60})[\s>/]")
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body)", re.IGNORECASE)


def find_feed_link(html: bytes, base_url: str) -> str | None:
    """The feed a web page advertises for autodiscovery, as an absolute URL."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html[:512 * 1024], "html.parser")
    for link in soup.find_all("link", href=True):
        rel: Any = link.get("rel") or []
        rels = [rel.lower()] if isinstance(rel, str) else [str(r).lower() for r in rel]
        kind = str(link.get("type") or "").lower()
        if "alternate" in rels and kind in _FEED_TYPES:
            return urljoin(base_url, str(link["href"]))
    return None


def _doi_of(entry: Any) -> str | None:
    for key in ("prism_doi", "dc_identifier", "id"):
        value = entry.get(key)
        if isinstance(value, str):
            match = _DOI.search(value)
            if match:
                return match.group(1).rstrip(".,;)").lower()
    return None


def _raw(entry: Any, key: str) -> str | None:
    # dict.get, not entry.get: FeedParserDict maps a missing "updated" to "published" with a warning.
    value = dict.get(entry, key)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _entry_to_item(entry: Any, zone: tzinfo, dayfirst: bool) -> ParsedItem:
    content = ""
    if entry.get("content"):
        content = entry["content"][0].get("value", "") or ""
    summary = entry.get("summary", "") or ""
    if summary == content:
        content = ""
    categories = tuple(
        tag.get("term", "").strip() for tag in entry.get("tags", []) if tag.get("term", "").strip()
    )
    published_text = _raw(entry, "published") or _raw(entry, "created")
    updated_text = _raw(entry, "updated")
    updated = parse_date(updated_text, zone, dayfirst)
    published = parse_date(published_text, zone, dayfirst) or updated
    return ParsedItem(
        title=(entry.get("title") or "").strip(),
        link=(entry.get("link") or "").strip() or None,
        guid=(entry.get("id") or "").strip() or None,
        summary=summary,
        content=content,
        author=(entry.get("author") or "").strip() or None,
        categories=categories,
        published_at=published,
        updated_at=updated,
        date_text=published_text or updated_text,
        doi=_doi_of(entry),
    )


def parse_feed(data: bytes, url: str, content_type: str = "", zone: tzinfo = UTC,
               dayfirst: bool = False, fast: bool = True) -> list[ParsedItem]:
    """The feed's entries; ``zone`` and ``dayfirst`` say how to read dates written without a zone or ambiguously
    (the source's ``options.timezone`` and ``options.dayfirst``). ``fast=False`` always uses feedparser (the
    tests compare the two)."""
    if not data.strip():
        raise ParseError("the source sent an empty body instead of a feed")
    entries = fast_entries(data, url, content_type) if fast else None
    if entries is None:
        entries = _feedparser_entries(data, url, content_type)
    return _items(entries, url, zone, dayfirst)


def _feedparser_entries(data: bytes, url: str, content_type: str) -> list[Any]:
    import feedparser

    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    # feedparser's own sanitiser is off: clean.py sanitises every HTML field with nh3 (an allow-list, and
    # several times faster); relative links are still resolved here.
    result = feedparser.parse(data, response_headers=headers, sanitize_html=False)
    if not result.get("version") and not result.entries:
        if _HTML_START.match(data[:2048]) or "html" in content_type.lower():
            feed_link = find_feed_link(data, url)
            hint = f"; the page advertises a feed at {feed_link}: use that URL" if feed_link else ""
            raise ParseError(f"the address returned a web page, not a feed{hint}", feed_link=feed_link)
        root = _ROOT_ELEMENT.search(data[:4096])
        if root:
            name = root.group(1).decode("ascii", "replace")
            raise ParseError(f"the document is XML but not RSS, Atom or RDF (its root element is <{name}>)")
        raise ParseError("the body is neither a feed nor XML (binary or truncated data?)")
    if result.get("bozo"):
        problem = result.get("bozo_exception")
        survivable = (feedparser.CharacterEncodingOverride, feedparser.CharacterEncodingUnknown,
                      feedparser.NonXMLContentType)
        level = logging.INFO if isinstance(problem, survivable) else logging.WARNING
        log.log(level, "feed %s needed repair: %s", url, problem)
    return list(result.entries)


def _items(entries: list[Any], url: str, zone: tzinfo, dayfirst: bool) -> list[ParsedItem]:
    items: list[ParsedItem] = []
    failures = empty = 0
    for index, entry in enumerate(entries):
        try:
            item = _entry_to_item(entry, zone, dayfirst)
        except Exception as exc:  # one stranger's malformed entry must not cost us the others
            failures += 1
            log.warning("feed %s: skipped entry %d: %s", url, index, exc)
            continue
        if not item.title and not item.link and not item.summary:
            empty += 1
            continue
        items.append(item)
    if empty:
        log.warning("feed %s: skipped %d entries with no title, link or summary", url, empty)
    failures += empty
    if failures and not items:
        raise ParseError(f"none of the feed's {failures} entries could be read")
    return items
