"""The ``sitemap`` retriever: a site's sitemap (or sitemap index, or Google News sitemap) → its new article pages.

One poll:
1. fetch the source URL conditionally (ETag/Last-Modified, as for feeds): a 304 ends the poll;
2. a ``<sitemapindex>``: fetch its child sitemaps, newest ``lastmod`` first, at most ``options.max_sitemaps``
   (default 5); a ``.gz`` sitemap is un-gzipped with the fetcher's size cap (a gzip bomb stops at the cap);
3. keep the URLs on the sitemap's own host whose path starts with one of ``options.paths`` (default: every path),
   drop those already stored for this source (``Conditional.known_links``, normalised as items' links are);
4. fetch the newest of the rest (lastmod, else document order), at most ``options.max_new_pages`` (default 10)
   a poll, at most one request a second to the host (``SITEMAP_RATE``); a page that fails still becomes an item
   from the sitemap's own facts (its error kept in ``extra.page_error``), so it is not fetched for ever.
When new URLs are left over, the answer carries no validators, so the next poll reads the sitemap again instead
of getting a 304 and forgetting them. Every request goes through ``fetch.Fetcher`` (timeouts, size cap, redirect
checks, gzip). The result is one JSON document ``{"sitemap", "kept", "known", "pending", "pages": [...]}`` that
parse/sitemap.py turns into items, so parsing stays pure.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
from dataclasses import asdict, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..domain import Conditional, Fetched, SourceSpec
from ..errors import BodyTooLarge, FetchError, ParseError
from .clean import normalize_link
from .fetch import Fetcher, _Decoder
from .parse.dates import parse_date
from .parse.sitemap import Entry, read_sitemap


class _Pace(Protocol):
    def wait(self) -> None: ...


class Pacers(Protocol):
    """What this retriever needs of ``retrieve.Retrieval``: one shared rate limiter per host. A protocol rather than
    an import, so that ``retrieve`` (which calls this module) and this module do not import each other."""

    def limiter(self, url: str, per_second: float) -> _Pace: ...

log = logging.getLogger(__name__)

SITEMAP_RATE = 1.0  # requests a second to one site: pages are fetched one by one, politely
MAX_NEW_PAGES = 10
MAX_SITEMAPS = 5
MAX_PAGE_CHARS = 400_000  # of one page kept for parsing: the <head> and JSON-LD come first


class SitemapOptionError(FetchError):
    kind = "config"


def _paths(spec: SourceSpec) -> tuple[str, ...]:
    raw = spec.option("paths", ["/"])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) and p.startswith("/") for p in raw):
        raise SitemapOptionError(f"options.paths of source {spec.id} must be a list of path prefixes such as "
                                 f"['/news/'], got {raw!r}; fix it in feeds.yaml")
    return tuple(raw)


def _count(spec: SourceSpec, name: str, default: int) -> int:
    raw = spec.option(name, default)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise SitemapOptionError(f"options.{name} of source {spec.id} must be a whole number (0 or more), got "
                                 f"{raw!r}; fix it in feeds.yaml")
    return raw


def _body(fetched: Fetched, limit: int) -> bytes:
    """The sitemap's bytes, un-gzipped when the file itself is gzip (``sitemap.xml.gz``), within the size cap."""
    if fetched.body[:2] == b"\x1f\x8b":
        try:
            return _Decoder("gzip").decode(fetched.body, limit)
        except BodyTooLarge:
            raise BodyTooLarge(f"the un-gzipped sitemap is over the {limit:,}-byte limit (FETCH_MAX_BYTES); point "
                               "the source at a smaller child sitemap") from None
    return fetched.body


def _charset(content_type: str) -> str:
    """The page's declared charset when Python knows it, else UTF-8 (what almost every site serves today)."""
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.IGNORECASE)
    if match:
        try:
            return codecs.lookup(match.group(1)).name
        except LookupError:
            pass
    return "utf-8"


def _sort_key(indexed: tuple[int, Entry]) -> tuple[float, int]:
    index, entry = indexed
    when = parse_date(entry.lastmod) if entry.lastmod else None
    return (-(when.timestamp()) if when else 0.0, index)  # newest first; undated ones keep their order, first


def newest_first(entries: list[Entry]) -> list[Entry]:
    dated = [(i, e) for i, e in enumerate(entries) if e.lastmod and parse_date(e.lastmod)]
    undated = [(i, e) for i, e in enumerate(entries) if not (e.lastmod and parse_date(e.lastmod))]
    return [e for _, e in sorted(dated, key=_sort_key)] + [e for _, e in undated]


def keep(entries: list[Entry], host: str, paths: tuple[str, ...]) -> list[Entry]:
    """The entries on ``host`` under one of ``paths``, each URL once."""
    kept: list[Entry] = []
    seen: set[str] = set()
    for entry in entries:
        parts = urlsplit(entry.loc.strip())
        if parts.scheme not in {"http", "https"} or (parts.hostname or "").lower() != host:
            continue
        if not any(parts.path.startswith(prefix) for prefix in paths):
            continue
        if entry.loc in seen:
            continue
        seen.add(entry.loc)
        kept.append(entry)
    return kept


def retrieve(retrieval: Pacers, fetcher: Fetcher, spec: SourceSpec, url: str, conditional: Conditional) -> Fetched:
    paths = _paths(spec)
    max_pages = _count(spec, "max_new_pages", MAX_NEW_PAGES)
    max_sitemaps = _count(spec, "max_sitemaps", MAX_SITEMAPS)
    limit = fetcher.limits.max_bytes
    limiter = retrieval.limiter(url, SITEMAP_RATE)
    limiter.wait()
    first = fetcher.fetch(url, conditional)
    if first.not_modified:
        return first
    sitemap = read_sitemap(_body(first, limit))
    entries = list(sitemap.entries)
    children = 0
    if sitemap.kind == "index":
        entries = []
        for child in newest_first(list(sitemap.entries))[:max_sitemaps]:
            limiter.wait()
            try:
                fetched = fetcher.fetch(child.loc)
                part = read_sitemap(_body(fetched, limit))
            except (FetchError, ParseError) as exc:
                log.warning("source %s: child sitemap %s skipped: %s", spec.id, child.loc, exc)
                continue
            if part.kind == "urlset":
                entries.extend(part.entries)
                children += 1
        if not children and sitemap.entries:
            raise ParseError("no child sitemap of the sitemap index could be read")
    host = (urlsplit(first.final_url or url).hostname or "").lower()
    kept = keep(entries, host, paths)
    new = [e for e in newest_first(kept) if normalize_link(e.loc) not in conditional.known_links]
    pages: list[dict[str, Any]] = []
    for entry in new[:max_pages]:
        limiter.wait()
        html: str | None = None
        error: str | None = None
        try:
            page = fetcher.fetch(entry.loc)
            html = page.body[:MAX_PAGE_CHARS].decode(_charset(page.content_type), "replace")
        except FetchError as exc:
            error = str(exc)
            log.warning("source %s: page %s could not be fetched (%s); kept from the sitemap only", spec.id,
                        entry.loc, exc)
        pages.append({"entry": asdict(entry), "html": html, "error": error})
    pending = max(0, len(new) - max_pages)
    if pending:
        log.info("source %s: %d new sitemap URL(s) left for the next polls (options.max_new_pages)", spec.id,
                 pending)
    combined = {"sitemap": url, "kind": sitemap.kind, "children": children, "entries": len(entries),
                "kept": len(kept), "known": len(kept) - len(new), "pending": pending, "pages": pages}
    validators: dict[str, Any] = {} if not pending else {"etag": None, "last_modified": None}
    return replace(first, body=json.dumps(combined).encode("utf-8"), content_type="application/json", **validators)
