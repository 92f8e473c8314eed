"""One live check of each source, for the operator who deploys: fetch once, parse, classify, and say in words what
is wrong. Used by ``flask check-sources --live`` (aggregator/cli/sources.py); nothing is stored.

Why: a source that answers 200 with zero items (a wrong medRxiv subject value), an HTML page where a feed was
expected, a 403 to non-browser clients, or a listing built by JavaScript all look like "quiet" on /sources for
weeks. This check runs the production fetcher and the source's own retriever and parser once, and turns each
outcome into a diagnosis an operator can act on. ``diagnose`` is pure; ``check_source`` does the I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from ..domain import Conditional, Fetched, SourceSpec
from ..errors import FetchError, HTTPStatusError, ParseError
from ..topics.classify import Classifier
from .fetch import Fetcher
from .prepare import prepare

CHECK_PAGES = 3  # article pages a check of a sitemap source fetches
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json")
# Markers of a page drawn in the browser: an empty app root, custom elements, or a "please enable JavaScript".
_JS_MARKERS = re.compile(
    rb'<div id="(?:app|root|__next|__nuxt)"[^>]*>\s*</div>|<c-[a-z]+-|enable javascript|requires javascript|'
    rb"<noscript>[^<]{0,200}javascript", re.IGNORECASE)


@dataclass(frozen=True)
class CheckResult:
    source_id: str
    ok: bool  # fetched and read, with at least one item
    status: str  # "200", "304", "403", "timeout", "parse" ...
    items: int = 0
    newest: datetime | None = None
    matches: dict[str, int] = field(default_factory=dict)
    diagnosis: str = ""


def discover_feed(body: bytes, base_url: str) -> str | None:
    """The feed an HTML page advertises with ``<link rel="alternate" type="application/rss+xml" href=…>``."""
    if not re.search(rb"<html|<head|<!doctype html", body[:4096], re.IGNORECASE):
        return None
    from bs4 import BeautifulSoup, Tag  # here: every `flask` command imports this module (cli/sources.py)

    soup = BeautifulSoup(body[:500_000], "lxml")
    for link in soup.find_all("link", href=True):
        if not isinstance(link, Tag):
            continue
        rel: Any = link.get("rel") or []
        rels = [rel] if isinstance(rel, str) else [str(r) for r in rel]
        kind = str(link.get("type") or "").lower()
        if "alternate" in [r.lower() for r in rels] and kind in _FEED_TYPES:
            return urljoin(base_url, str(link["href"]))
    return None


def looks_built_by_javascript(body: bytes) -> bool:
    """An HTML page with (almost) no text of its own and the marks of a client-side app."""
    if not re.search(rb"<html|<!doctype html", body[:4096], re.IGNORECASE):
        return False
    if _JS_MARKERS.search(body[:2_000_000]):
        return True
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body[:2_000_000], "lxml")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    text = soup.get_text(" ", strip=True)
    return len(text) < 200 and body.count(b"<script") >= 3


def diagnose(spec: SourceSpec, *, error: Exception | None = None, body: bytes = b"", final_url: str = "",
             items: int = 0, matches: int = 0) -> str:
    """What an operator should read about one outcome. Pure."""
    if isinstance(error, HTTPStatusError):
        if error.status == 403:
            return ("403: the site refuses our client. Set USER_AGENT to name the service and a contact address, "
                    "or use another route (sitemap, Google News site: search, an API)")
        if error.status == 404:
            return "404: the address is wrong or gone; find the source's current feed or API URL"
        if error.status == 410:
            return "410: the source is gone for good; remove it or give it a new URL"
        if error.status == 429:
            return "429: the site says we ask too often; poll it less often (interval)"
        return f"{error.status}: {error}"
    if isinstance(error, ParseError):
        feed = error.feed_link or discover_feed(body, final_url or spec.url)
        if feed:
            return f"HTML page: its feed is at {feed} (use that URL with kind: feed)"
        if looks_built_by_javascript(body):
            return "JavaScript-built page: the items are drawn in the browser; use a sitemap or search route"
        return f"not readable as a {spec.kind} source: {error}"
    if isinstance(error, FetchError):
        return f"{error.kind}: {error}"
    if error is not None:
        return f"internal error ({error.__class__.__name__}): {error}"
    if items == 0:
        if spec.kind == "sitemap":
            return ("200 with 0 items: no sitemap URL under options.paths on this host? (or every page is "
                    "already stored)")
        return "200 with 0 items: wrong subject value or query? (a wrong parameter often answers 200 and nothing)"
    if matches == 0:
        return f"works: {items} items, none matches a topic yet (fine for a broad source)"
    return f"works: {items} items, {matches} match a topic"


Retriever = Callable[[Fetcher, SourceSpec, str, Conditional], Fetched]


def check_source(spec: SourceSpec, fetcher: Fetcher, retriever: Retriever, classifier: Classifier,
                 now: datetime) -> CheckResult:
    """Fetch ``spec`` once (unconditionally: a 304 would say nothing), parse and classify; never raises."""
    if spec.kind == "sitemap":  # a check needs a few article pages, not a whole poll's worth
        options = dict(spec.options)
        options["max_new_pages"] = min(int(options.get("max_new_pages", CHECK_PAGES) or 0), CHECK_PAGES)
        spec = replace(spec, options=tuple(sorted(options.items())))
    try:
        fetched = retriever(fetcher, spec, spec.url, Conditional())
    except Exception as exc:  # noqa: BLE001 - every failure becomes a diagnosis
        status = str(exc.status) if isinstance(exc, HTTPStatusError) else getattr(exc, "kind", "error")
        return CheckResult(spec.id, False, status, diagnosis=diagnose(spec, error=exc))
    status = str(fetched.status)
    try:
        prepared = prepare(classifier, spec, fetched, now, frozenset())
    except ParseError as exc:
        return CheckResult(spec.id, False, status, diagnosis=diagnose(spec, error=exc, body=fetched.body,
                                                                      final_url=fetched.final_url))
    items = prepared.items
    per_topic: Counter[str] = Counter()
    matched = 0
    for rows in prepared.topic_rows:
        matched += bool(rows)
        per_topic.update(topic_id for topic_id, _score, _hits in rows)
    dates = [item.published_at for item in items if item.published_at and item.published_at <= now]
    return CheckResult(spec.id, bool(items), status, len(items), max(dates) if dates else None, dict(per_topic),
                       diagnose(spec, items=len(items), matches=matched))


def failed_seed_groups(specs: Sequence[SourceSpec], results: dict[str, CheckResult]) -> list[str]:
    """The seed publishers none of whose checked routes works."""
    groups: dict[str, bool] = {}
    for spec in specs:
        if spec.seed and spec.group:
            result = results.get(spec.id)
            groups[spec.group] = groups.get(spec.group, False) or bool(result and result.ok)
    return sorted(group for group, working in groups.items() if not working)
