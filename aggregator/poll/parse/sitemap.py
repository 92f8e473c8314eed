"""Sitemaps and the pages they list → items. Pure: the retriever (aggregator/poll/retrieve_sitemap.py) fetches.

Why: the sites whose listing is drawn by JavaScript (the National MS Society's, most large hospital and society
sites) still publish ``sitemap.xml`` for search engines. Its ``<loc>`` URLs are the articles; each new one becomes
an item whose title and summary come from the page's own metadata, read with BeautifulSoup (no regexes):
- title: Open Graph ``og:title``, else the JSON-LD article's ``headline``, else ``<title>``, else the Google News
  sitemap's ``<news:title>``, else words from the URL's last path segment;
- summary: ``og:description``, else ``<meta name="description">``, else the JSON-LD ``description`` (text, escaped);
- date: JSON-LD ``datePublished``, else ``article:published_time``, else ``<news:publication_date>``, else
  ``<lastmod>`` (a modification date: the last resort); every date goes through parse/dates.py.

Three documents are read (https://www.sitemaps.org/protocol.html, Google News sitemaps): a ``<urlset>`` of
``<url><loc/><lastmod/></url>``, a ``<sitemapindex>`` of ``<sitemap><loc/><lastmod/></sitemap>``, and a urlset with
``<news:news>`` children. Elements are matched by local name, so a missing or unusual namespace still reads.
Hostile input: lxml with entities unresolved, no DTD, no network and no huge trees (the billion-laughs document
and XXE both fail as "not well-formed", never expand); at most ``MAX_ENTRIES`` entries (the protocol's 50,000).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from html import escape
from typing import Any
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup, Tag
from lxml import etree

from ...domain import Fetched, ParsedItem, SourceSpec
from ...errors import ParseError
from . import json_text
from .dates import parse_date

log = logging.getLogger(__name__)

MAX_ENTRIES = 50_000  # the sitemap protocol's own limit per file
MAX_JSON_LD = 200_000  # characters of one JSON-LD script we are willing to decode
ARTICLE_TYPES = ("NewsArticle", "Article", "BlogPosting", "ScholarlyArticle", "MedicalScholarlyArticle", "Report",
                 "PressRelease", "ReportageNewsArticle", "AnalysisNewsArticle", "WebPage")


@dataclass(frozen=True)
class Entry:
    """One ``<url>`` (or ``<sitemap>`` of an index) as the sitemap wrote it."""

    loc: str
    lastmod: str | None = None
    news_title: str | None = None
    news_date: str | None = None


@dataclass(frozen=True)
class Sitemap:
    kind: str  # "urlset" or "index"
    entries: tuple[Entry, ...]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           recover=False, remove_comments=True, remove_pis=True)


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child_text(element: etree._Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            text = (child.text or "").strip()
            return text or None
    return None


def read_sitemap(data: bytes) -> Sitemap:
    """A sitemap or sitemap index → its entries; ``ParseError`` if it is neither (an HTML error page, say)."""
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith(b"<"):
        raise ParseError("the sitemap is not XML; check the source URL (a .gz sitemap must be gzip data)")
    try:
        root = etree.fromstring(stripped, _parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"the sitemap is not well-formed XML ({str(exc)[:120]})") from exc
    kind = _local(root.tag)
    if kind not in {"urlset", "sitemapindex"}:
        raise ParseError(f"the document is a <{kind}>, not a sitemap (<urlset> or <sitemapindex>); "
                         "check the source URL")
    child_name = "url" if kind == "urlset" else "sitemap"
    entries: list[Entry] = []
    for element in root:
        if _local(element.tag) != child_name:
            continue
        loc = _child_text(element, "loc")
        if not loc:
            continue
        news_title = news_date = None
        for child in element:
            if _local(child.tag) == "news":
                news_title = _child_text(child, "title")
                news_date = _child_text(child, "publication_date")
        entries.append(Entry(loc, _child_text(element, "lastmod"), news_title, news_date))
        if len(entries) >= MAX_ENTRIES:
            log.warning("sitemap holds more than %d entries; the rest are ignored", MAX_ENTRIES)
            break
    return Sitemap("urlset" if kind == "urlset" else "index", tuple(entries))


# ------------------------------------------------------------------------------------------ page metadata


def _meta(soup: BeautifulSoup, *keys: str) -> str | None:
    for key in keys:
        for attr in ("property", "name"):
            tag = soup.find("meta", attrs={attr: key})
            if isinstance(tag, Tag):
                content = tag.get("content")
                if isinstance(content, str) and content.strip():
                    return content.strip()
    return None


def _walk_json_ld(value: Any, found: list[dict[str, Any]], depth: int = 0) -> None:
    if depth > 6:
        return
    if isinstance(value, list):
        for element in value[:50]:
            _walk_json_ld(element, found, depth + 1)
    elif isinstance(value, dict):
        found.append(value)
        if "@graph" in value:
            _walk_json_ld(value["@graph"], found, depth + 1)


def _types(node: dict[str, Any]) -> list[str]:
    kind = node.get("@type")
    return [str(k) for k in kind] if isinstance(kind, list) else [str(kind)] if kind else []


def json_ld_article(soup: BeautifulSoup) -> dict[str, Any] | None:
    """The most specific article object in the page's JSON-LD scripts, if any (broken scripts are skipped)."""
    nodes: list[dict[str, Any]] = []
    for script in soup.find_all("script", attrs={"type": re.compile(r"^\s*application/ld\+json", re.I)}):
        text = script.string or script.get_text()
        if not text or len(text) > MAX_JSON_LD:
            continue
        try:
            _walk_json_ld(json_text.loads(text.encode("utf-8", "replace")), nodes)
        except (ValueError, UnicodeDecodeError):
            log.debug("a JSON-LD script that is not JSON was skipped")
    for wanted in ARTICLE_TYPES:
        for node in nodes:
            if wanted in _types(node):
                return node
    return None


def _ld_text(node: dict[str, Any] | None, key: str) -> str | None:
    value = node.get(key) if node else None
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("name")
    return value.strip() if isinstance(value, str) and value.strip() else None


def title_from_url(url: str) -> str:
    """``…/news/2026/11/car-t-trial-opens/`` → ``car t trial opens``: the last resort for a page we cannot read."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    last = unquote(segments[-1]) if segments else urlsplit(url).netloc
    last = re.sub(r"\.(html?|php|aspx?)$", "", last, flags=re.I)
    words = re.sub(r"[-_+]+", " ", last).strip()
    return words or url


def page_item(entry: Entry, html: str | None, zone: tzinfo = UTC, dayfirst: bool = False,
              error: str | None = None) -> ParsedItem:
    """One sitemap URL and its page (None when the page could not be fetched: the sitemap's facts only)."""
    soup = BeautifulSoup(html, "lxml") if html else None
    article = json_ld_article(soup) if soup is not None else None
    head_title = None
    if soup is not None and soup.title is not None:
        head_title = soup.title.get_text(" ", strip=True) or None
    title = ((_meta(soup, "og:title", "twitter:title") if soup is not None else None) or _ld_text(article, "headline")
             or head_title or entry.news_title or title_from_url(entry.loc))
    description = ((_meta(soup, "og:description", "description", "twitter:description") if soup is not None else None)
                   or _ld_text(article, "description"))
    raw_date = (_ld_text(article, "datePublished")
                or (_meta(soup, "article:published_time", "datePublished", "date") if soup is not None else None)
                or entry.news_date or entry.lastmod)
    published: datetime | None = parse_date(raw_date, zone, dayfirst) if raw_date else None
    modified_text = _ld_text(article, "dateModified") or entry.lastmod
    author = _ld_text(article, "author") or (_meta(soup, "author") if soup is not None else None)
    extra: dict[str, Any] = {"lastmod": entry.lastmod, "json_ld_type": _types(article)[0] if article else None}
    if error:
        extra["page_error"] = error[:300]
    return ParsedItem(
        title=title,
        link=entry.loc,
        guid=None,  # the normalised link is the identity
        summary=f"<p>{escape(description)}</p>" if description else "",
        author=author,
        published_at=published,
        updated_at=parse_date(modified_text, zone, dayfirst) if modified_text else None,
        date_text=raw_date,
        extra=tuple(sorted(extra.items())),
    )


# ------------------------------------------------------------------------------------------ the combined document


def parse_combined(data: bytes, zone: tzinfo = UTC, dayfirst: bool = False) -> list[ParsedItem]:
    """The retriever's JSON ``{"pages": [{"entry": {...}, "html": str|None, "error": str|None}], ...}``."""
    try:
        document = json_text.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError("the sitemap retriever's document is not JSON (a sitemap source must be polled through "
                         "its retriever)") from exc
    pages = document.get("pages") if isinstance(document, dict) else None
    if not isinstance(pages, list):
        raise ParseError("the sitemap retriever's document has no `pages` list")
    items = []
    for page in pages:
        raw = page.get("entry") if isinstance(page, dict) else None
        if not isinstance(raw, dict) or not isinstance(raw.get("loc"), str):
            continue
        entry = Entry(raw["loc"], raw.get("lastmod"), raw.get("news_title"), raw.get("news_date"))
        html = page.get("html")
        items.append(page_item(entry, html if isinstance(html, str) else None, zone, dayfirst, page.get("error")))
    return items


def parse(spec: SourceSpec, fetched: Fetched) -> list[ParsedItem]:
    return parse_combined(fetched.body, spec.zone(), spec.dayfirst())
