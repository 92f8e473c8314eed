"""A page without a feed → items, with beautifulsoup4 and the CSS selectors of the source's ``options``. Pure.

``options`` in feeds.yaml (selectors are relative to each item except ``item``):
    item: "article.news-card"     required: one element per news item
    title: "h3"                   the title's text (default: the link's text)
    link: "a"                     an element with href (default: the first <a href> in the item)
    date: "time"                  its ``datetime`` attribute, else its text (default: a <time> in the item)
    summary: "p.teaser"           optional
Links are made absolute against the page's final URL; an item without a link is skipped (the link is its
identity, so a new link is a new item). If ``item`` matches nothing the page has changed its layout: that is a
parse error shown on /sources, not a quiet empty source.
"""

from __future__ import annotations

import logging
from datetime import UTC, tzinfo
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag
from bs4.exceptions import ParserRejectedMarkup
from soupsieve import SelectorSyntaxError

from ...domain import Fetched, ParsedItem, SourceSpec
from ...errors import ParseError
from .dates import parse_date

log = logging.getLogger(__name__)

SELECTOR_OPTIONS = ("item", "title", "link", "date", "summary")
MAX_ITEMS = 200


def _select_one(item: Tag, selector: str | None) -> Tag | None:
    if not selector:
        return None
    found = item.select_one(selector)
    return found if isinstance(found, Tag) else None


def _link_of(item: Tag, selector: str | None) -> str | None:
    element = _select_one(item, selector) if selector else None
    if element is None:
        found = item if item.name == "a" and item.get("href") else item.find("a", href=True)
        element = found if isinstance(found, Tag) else None
    if element is None:
        return None
    if not element.get("href"):
        inner = element.find("a", href=True)
        element = inner if isinstance(inner, Tag) else element
    href = element.get("href")
    return href.strip() if isinstance(href, str) and href.strip() else None


def parse_page(data: bytes, base_url: str, options: dict[str, str], content_type: str = "", zone: tzinfo = UTC,
               dayfirst: bool = False) -> list[ParsedItem]:
    item_selector = options.get("item")
    if not item_selector:
        raise ParseError("an html source needs `options: {item: <CSS selector>}` in feeds.yaml")
    try:
        soup = BeautifulSoup(data, "lxml")
        elements = soup.select(item_selector)[:MAX_ITEMS]
    except SelectorSyntaxError as exc:
        raise ParseError(f"the CSS selector {item_selector!r} in feeds.yaml is invalid") from exc
    except ParserRejectedMarkup as exc:
        raise ParseError("the page could not be read as HTML") from exc
    if not elements:
        raise ParseError(f"no element matches the item selector {item_selector!r}: the page layout may have "
                         "changed; update the selectors in feeds.yaml")
    items: list[ParsedItem] = []
    seen: set[str] = set()
    try:
        for element in elements:
            href = _link_of(element, options.get("link"))
            if not href:
                continue
            link = urljoin(base_url, href)
            if link in seen:
                continue
            seen.add(link)
            title_el = _select_one(element, options.get("title"))
            title = (title_el or element.find("a", href=True) or element).get_text(" ", strip=True)
            date_el = _select_one(element, options.get("date") or "time")
            raw_date = None
            if date_el is not None:
                attr = date_el.get("datetime")
                raw_date = attr if isinstance(attr, str) and attr.strip() else date_el.get_text(" ", strip=True)
            summary_el = _select_one(element, options.get("summary"))
            items.append(ParsedItem(
                title=title,
                link=link,
                guid=None,  # the normalised link is the identity
                summary=summary_el.decode_contents() if summary_el is not None else "",
                published_at=parse_date(raw_date, zone, dayfirst),
                date_text=raw_date or None,
            ))
    except SelectorSyntaxError as exc:
        raise ParseError(f"a CSS selector in the options of this source is invalid: {exc}") from None
    if not items:
        raise ParseError(f"{len(elements)} element(s) match {item_selector!r} but none has a link; "
                         "check the `link` selector in feeds.yaml")
    return items


def parse(spec: SourceSpec, fetched: Fetched) -> list[ParsedItem]:
    options = {key: str(value) for key, value in spec.options if key in SELECTOR_OPTIONS and value}
    return parse_page(fetched.body, fetched.final_url or spec.url, options, fetched.content_type, spec.zone(),
                      spec.dayfirst())
